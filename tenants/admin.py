"""Operator admin of tenants, their configuration and workspaces."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tenants.models import Tenant, TenantConfig, Workspace, WorkspaceMember


class TenantConfigInline(admin.StackedInline):
    model = TenantConfig
    can_delete = False
    # service_tokens are secrets: never rendered, not even encrypted.
    fields = ("rate_limit_config", "allowed_origins", "features", "service_token_providers", "updated_at")
    readonly_fields = ("service_token_providers", "updated_at")

    @admin.display(description="service tokens")
    def service_token_providers(self, obj: TenantConfig) -> str:
        return ", ".join(sorted((obj.service_tokens or {}).keys())) or "-"


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "=id")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [TenantConfigInline]


@admin.register(TenantConfig)
class TenantConfigAdmin(admin.ModelAdmin):
    list_display = ("tenant", "updated_at")
    search_fields = ("tenant__name",)
    exclude = ("service_tokens",)
    readonly_fields = ("created_at", "updated_at")
    list_select_related = ("tenant",)


class WorkspaceMemberInline(admin.TabularInline):
    model = WorkspaceMember
    extra = 0
    autocomplete_fields = ("agent",)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "visibility", "member_count", "created_at")
    list_filter = ("visibility", "tenant")
    search_fields = ("name", "tenant__name")
    list_select_related = ("tenant",)
    inlines = [WorkspaceMemberInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        from django.db.models import Count

        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Any) -> int:
        return obj.member_total


@admin.register(WorkspaceMember)
class WorkspaceMemberAdmin(admin.ModelAdmin):
    list_display = ("agent", "workspace", "role", "created_at")
    list_filter = ("role", "workspace__visibility")
    search_fields = ("agent__name", "workspace__name")
    list_select_related = ("agent", "workspace")
    autocomplete_fields = ("agent", "workspace")
