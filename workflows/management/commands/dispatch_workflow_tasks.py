"""`manage.py dispatch_workflow_tasks [--loop --interval 10]`: assign the workflow tasks still waiting for an agent."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandParser
from django.db import close_old_connections

from mcpadmin.management.base import AuditedCommand
from workflows.services import workflow_tasks_dispatch


class Command(AuditedCommand):
    help = (
        "Assign every pending task of a running workflow execution to an agent by the assignment rule (the named "
        "agent, else an online agent with the capabilities and the least open work). Heartbeats and enabling an "
        "agent do this for that agent; this catches the rest (released tasks, agents that came online otherwise). "
        "Several copies may run at once (locked executions are skipped)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep going, one pass every --interval seconds.")
        parser.add_argument("--interval", type=float, default=10.0, help="Seconds between passes (with --loop).")
        parser.add_argument("--batch-size", type=int, default=100, help="Tasks read per query.")

    def handle(self, *args: Any, loop: bool, interval: float, batch_size: int, **options: Any) -> None:
        stop = threading.Event()
        if loop:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        while True:
            assigned = workflow_tasks_dispatch(batch_size=max(1, batch_size))
            for task in assigned:
                self.stdout.write(
                    f"assigned task {task.pk} ({task.title!r}, execution {task.workflow_execution_id}, "
                    f"step {task.workflow_step}) to agent {task.assigned_agent_id}"
                )
            self.stdout.write(f"assigned {len(assigned)} task(s)")
            if not loop or stop.wait(max(0.1, interval)):
                return
            close_old_connections()
