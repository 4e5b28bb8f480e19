"""`manage.py purge_audit_events --older-than 90d`: delete audit events older than a retention period."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from audit.services import audit_events_purge
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError
from mcpadmin.management.base import AuditedCommand

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_DURATION = re.compile(r"(\d+)([dhm])")


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m`."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise CommandError(f"--older-than: expected a number and a unit (d, h or m), e.g. 90d; got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(AuditedCommand):
    help = (
        "Delete audit events older than --older-than (default: MCPADMIN_AUDIT_RETENTION_DAYS, 90 days), "
        "--batch-size per transaction. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", default=f"{settings.MCPADMIN_AUDIT_RETENTION_DAYS}d")
        parser.add_argument("--batch-size", type=int, default=10_000)

    def handle(self, *args: Any, older_than: str, batch_size: int, **options: Any) -> None:
        try:
            deleted = audit_events_purge(
                actor=Actor.for_command("purge_audit_events"),
                older_than=parse_duration(older_than),
                batch_size=max(1, batch_size),
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"deleted {deleted} audit event(s) older than {older_than}")
