"""`manage.py escalate_tasks [--loop --interval 30]`: escalate every task whose escalation timeout has passed."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandParser
from django.db import close_old_connections

from mcpadmin.core.actor import Actor
from mcpadmin.management.base import AuditedCommand
from tasks.services import EscalationResult, task_escalate_due


class Command(AuditedCommand):
    help = (
        "Escalate auto-escalating tasks with no status change for their escalation timeout: priority one level up, "
        "a supervision delegation to the tenant's escalation agent (tenant_config.features.escalation_agent_id). "
        "Several copies may run at once (FOR UPDATE SKIP LOCKED)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep going, one pass every --interval seconds.")
        parser.add_argument("--interval", type=float, default=30.0, help="Seconds between passes (with --loop).")
        parser.add_argument("--batch-size", type=int, default=100, help="Tasks per transaction.")

    def handle(self, *args: Any, loop: bool, interval: float, batch_size: int, **options: Any) -> None:
        actor = Actor.for_command("escalate_tasks")
        stop = threading.Event()
        if loop:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        while True:
            results = task_escalate_due(actor=actor, batch_size=max(1, batch_size))
            for result in results:
                self.stdout.write(self._describe(result))
            self.stdout.write(f"escalated {len(results)} task(s)")
            if not loop or stop.wait(max(0.1, interval)):
                return
            close_old_connections()

    def _describe(self, result: EscalationResult) -> str:
        task = result.task
        return (
            f"escalated task {task.pk} ({task.title!r}, tenant {task.tenant_id}, {task.status}): "
            f"priority {result.from_priority} -> {result.to_priority}; {result.note}"
        )
