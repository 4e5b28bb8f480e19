"""`manage.py run_worker [--only JOB ...]`: every periodic job on its schedule until SIGTERM (mcpadmin/worker.py)."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from mcpadmin.management.base import AuditedCommand
from mcpadmin.worker import JOBS, Worker


class Command(AuditedCommand):
    help = (
        "Run the periodic jobs (escalation, workflow dispatch, purges, search statistics folds), each every "
        "MCPADMIN_EVERY_<JOB> seconds. Several workers may run at once: each job runs at most once per period "
        "and never twice at once (PostgreSQL advisory locks). SIGTERM/SIGINT: finish the running passes, then exit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        names = [job.name for job in JOBS]
        parser.add_argument("--only", nargs="+", choices=names, metavar="JOB", help=f"only these: {', '.join(names)}")

    def handle(self, *args: Any, only: list[str] | None, **options: Any) -> None:
        jobs = [job for job in JOBS if not only or job.name in only]
        worker = Worker(every=settings.MCPADMIN_WORKER_EVERY, jobs=jobs)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop.set())
        worker.start()
        while not worker.stop.wait(1.0):
            pass
        if not worker.shutdown(settings.MCPADMIN_WORKER_GRACEFUL_SECONDS):
            raise CommandError("stopped with a pass still running (MCPADMIN_WORKER_GRACEFUL_SECONDS passed)")
