"""Reads of the audit trail, scoped to the caller."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent
from mcpadmin.core.actor import Actor


def audit_events_visible_to(actor: Actor) -> QuerySet[AuditEvent]:
    """What `actor` may see of the trail (`AuditEvent.objects.visible_to`), newest first, with tenant and key."""
    return AuditEvent.objects.visible_to(actor).select_related("tenant", "key").order_by("-id")
