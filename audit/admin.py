"""The audit trail in the operator admin: read-only, filterable by tenant, actor, object and time."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from mcpadmin.adminkit import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Search by object id, request id, operator or command name, or an API key's public id (`key_prefix`)."""

    list_display = (
        "created_at", "tenant_name", "object_type", "object_id", "action", "changed_fields", "actor", "request_id",
        "client_ip",
    )  # fmt: skip
    list_filter = ("tenant", "source", "key_type", "action", "object_type", "created_at")
    search_fields = ("=object_id", "=request_id", "=operator", "=key__key_prefix")
    date_hierarchy = "created_at"
    list_select_related = ("tenant", "key")
    show_full_result_count = False  # counting a large trail on every page costs more than the page

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Events are removed only by `manage.py purge_audit_events`, never one by one."""
        return False

    @admin.display(description="tenant", ordering="tenant_id")
    def tenant_name(self, event: AuditEvent) -> str:
        """The tenant's name, or its id once the tenant is deleted (the events outlive it)."""
        return str(event.tenant) if event.tenant is not None else str(event.tenant_id or "-")

    @admin.display(description="actor")
    def actor(self, event: AuditEvent) -> str:
        if event.key_id is not None:
            prefix = event.key.key_prefix if event.key is not None else event.key_id
            return f"{event.key_type} key {prefix}"
        if event.source:
            return f"{event.source} {event.operator or ''}".strip()
        return f"{event.db_user} ({event.application_name or 'no context'})"
