"""`manage.py rotate_service_tokens`: re-encrypt service tokens under the first SERVICE_TOKEN_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from mcpadmin.management.base import AuditedCommand
from tenants.services import service_tokens_rotate


class Command(AuditedCommand):
    help = (
        "Re-encrypt every service token written with an older key under the first key of SERVICE_TOKEN_KEYS. "
        "Put the new key first, run this, then remove the old key. Safe to re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        counts = service_tokens_rotate(batch_size=batch_size)
        self.stdout.write(f"re-encrypted {counts['tokens']} token(s) of {counts['tenants']} tenant(s)")
