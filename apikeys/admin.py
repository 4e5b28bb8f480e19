"""Operator admin of API keys. The hash is never displayed."""

from django.contrib import admin

from apikeys.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "key_prefix", "key_type", "tenant", "parent_key", "is_active", "expires_at", "last_used_at")
    list_filter = ("key_type", "is_active", "tenant")
    search_fields = ("name", "key_prefix", "tenant__name")
    list_select_related = ("tenant", "parent_key")
    exclude = ("key_hash",)
    readonly_fields = ("key_prefix", "revoked_at", "last_used_at", "created_at", "updated_at")
    autocomplete_fields = ("tenant", "parent_key", "agent")
