"""`manage.py purge_rate_limits`: delete rate-limit state nobody has touched for two days (run daily)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser

from apikeys import ratelimit
from mcpadmin.management.base import AuditedCommand


class Command(AuditedCommand):
    help = "Delete rate-limit buckets untouched for longer than --older-than-hours (default 48)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-hours", type=int, default=48)

    def handle(self, *args: Any, older_than_hours: int, **options: Any) -> None:
        removed = ratelimit.purge(timedelta(hours=max(older_than_hours, 25)))
        self.stdout.write(f"deleted {removed} rate-limit bucket(s)")
