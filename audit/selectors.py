"""Reads of the audit trail, scoped to the caller."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent
from mcpadmin.core.access import KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden


def audit_events_visible_to(actor: Actor) -> QuerySet[AuditEvent]:
    """Operators see every event; an admin key, its tenant's (newest first). The key-type matrix already
    refuses other keys the `audit` service; refusing them here too keeps the rule true for any other caller."""
    events = AuditEvent.objects.select_related("tenant", "key").order_by("-id")
    if actor.is_operator:
        return events
    if actor.key_type != KeyType.ADMIN:
        raise Forbidden("action_not_allowed", "Only admin keys read the audit trail.")
    return events.filter(tenant_id=actor.tenant_id)
