"""`GET /api/v1/audit-events` (and `/{id}`): the audit trail of the caller's tenant, for admin keys."""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, serializers

from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from audit.selectors import audit_events_visible_to
from mcpadmin.api.views import TenantScopedViewSet


class AuditEventSerializer(serializers.ModelSerializer):
    key_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The API key that wrote, if any.")
    old_values = serializers.JSONField(read_only=True, allow_null=True)
    new_values = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id", "created_at", "object_type", "object_id", "action", "changed_fields", "old_values", "new_values",
            "source", "key_id", "key_type", "operator", "request_id", "client_ip", "context_id", "db_user",
            "application_name",
        ]  # fmt: skip
        read_only_fields = fields


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Every write to the tenant's tracked objects, newest first: who (key, operator or command; or, for
    another service's plain SQL, its database role and application name), what (object, action, changed
    fields; values only of non-secret, non-bulky columns), when, from where (request id, client address)."""

    service = "audit"
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.all()

    def get_base_queryset(self) -> Any:
        return audit_events_visible_to(self.actor)
