"""`manage.py purge_idempotency_keys`: delete expired Idempotency-Keys (tasks, workflow executions), in batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from mcpadmin.core.idempotency import idempotency_key_purge_expired
from mcpadmin.management.base import AuditedCommand
from mcpadmin.progress import Progress


class Command(AuditedCommand):
    help = (
        "Delete task_idempotency_keys and workflow_execution_idempotency_keys rows whose expires_at has passed, "
        "--batch-size per transaction. "
        "Safe to run concurrently (each batch locks its rows with SKIP LOCKED)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        progress = Progress(self.stdout, None)
        deleted = idempotency_key_purge_expired(batch_size=max(1, batch_size), progress=progress)
        progress.close()
        self.stdout.write(f"deleted {deleted} expired idempotency key(s)")
