"""The one write the application itself makes to the audit trail: purging old events."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden, invalid

_PURGE_SQL = """
DELETE FROM audit_events WHERE id IN (
    SELECT id FROM audit_events WHERE created_at < %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
"""


def audit_events_purge(
    *, actor: Actor, older_than: timedelta, now: datetime | None = None, batch_size: int = 10_000
) -> int:
    """Deletes the events older than `older_than`, `batch_size` per transaction (short locks, bounded WAL per
    commit); returns how many. Only operators and commands purge: a tenant's keys never shorten its audit trail."""
    if not actor.is_operator:
        raise Forbidden("action_not_allowed", "Only operators and commands purge the audit trail.")
    if older_than <= timedelta(0):
        raise invalid("older_than", "Must be a positive duration.")
    cutoff = (now or timezone.now()) - older_than
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PURGE_SQL, [cutoff, batch_size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            return total
