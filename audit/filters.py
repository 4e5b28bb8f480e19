"""Filters of the audit event list; a bad value is a 400 naming the parameter, never ignored."""

from __future__ import annotations

import django_filters

from audit.models import AuditAction, AuditEvent, AuditSource
from audit.tracking import TRACKED


class AuditEventFilter(django_filters.FilterSet):
    object_type = django_filters.ChoiceFilter(
        choices=[(spec.table, spec.table) for spec in TRACKED], help_text="The table written, e.g. `tasks`."
    )
    object_id = django_filters.CharFilter(field_name="object_id", max_length=255)
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices, help_text="Repeat for several.")
    source = django_filters.ChoiceFilter(choices=AuditSource.choices)
    key_id = django_filters.UUIDFilter(field_name="key_id", help_text="The API key that wrote.")
    request_id = django_filters.CharFilter(field_name="request_id", max_length=64)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = [
            "object_type", "object_id", "action", "source", "key_id", "request_id", "created_after", "created_before",
        ]  # fmt: skip
