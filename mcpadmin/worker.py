"""The worker: every periodic job of the platform, each on its own schedule, in one process (`manage.py run_worker`).

Each job calls the same service as its management command (`escalate_tasks`, `dispatch_workflow_tasks`,
`purge_idempotency_keys`, `purge_rate_limits`, `sync_collection_graphs`), so a job and a command never disagree;
the services were already safe to run concurrently (`FOR UPDATE SKIP LOCKED` batches, compare-and-set updates),
except graph builds, which the job's lock keeps to one at a time.

Schedule: job `j` runs once per slot of `every[j]` seconds, slots aligned on the epoch (every 30 s: at :00 and :30
of each minute; every 86400 s: once per UTC day). A worker that starts in the middle of a slot runs the job at once.

Several workers at once (one per machine, or more): before a pass, a worker takes the job's PostgreSQL advisory
lock (`pg_try_advisory_lock`, on a connection of its own) and holds it **until the end of the slot**, even when
the pass ends sooner. A worker that finds the lock taken skips that slot. So a job never runs twice at once, and
at most once per slot, whatever the number of workers; if the holder dies, its connection closes and the lock
goes with it. No table, no queue: the schedule needs no state but the clock and the locks.

On SIGTERM or SIGINT the worker starts no new pass, lets the running ones finish (up to
`MCPADMIN_WORKER_GRACEFUL_SECONDS`), releases its locks and exits.

Why not procrastinate (PostgreSQL job queue): it was built first and measured (docs, Running it): its
tables, types and 18 functions live in schema `mcp`; its Django migrations have no reverse; `schema_gap` cannot
re-create its composite type; `adopt_legacy_db` runs migrations in one transaction and procrastinate's add enum
values they use at once (refused by PostgreSQL); and every run of a periodic job costs ~10 commits and ~3 KB of
WAL for its bookkeeping. All our jobs are periodic and idempotent: a queue buys nothing here.

This module is an interface (like the commands): it may import any domain module; none imports it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections

from apikeys import ratelimit
from audit.context import command_context
from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.idempotency import idempotency_key_purge_expired
from search.services import collection_stats_fold_behind
from search.vector_indexes import collection_graphs_sync
from tasks.services import task_escalate_due
from workflows.services import workflow_tasks_dispatch

logger = logging.getLogger("mcpadmin.worker")

#: First key of the two-key advisory locks of the worker's jobs ("mcpw"); the second is the job name's CRC32.
LOCK_CLASS = 0x6D637077


@dataclass(frozen=True)
class Job:
    """One periodic job: `run()` does one pass and returns how many things it did (for the log line)."""

    name: str
    run: Callable[[], int]
    what: str


def escalate_tasks() -> int:
    return len(task_escalate_due(actor=Actor.for_command("worker: escalate_tasks")))


def dispatch_workflow_tasks() -> int:
    return len(workflow_tasks_dispatch())


def purge_idempotency_keys() -> int:
    return idempotency_key_purge_expired()


def purge_rate_limits() -> int:
    return ratelimit.purge(timedelta(hours=48))


def fold_search_stats() -> int:
    return collection_stats_fold_behind()


def sync_collection_graphs() -> int:
    return len(collection_graphs_sync())


JOBS: tuple[Job, ...] = (
    Job("escalate_tasks", escalate_tasks, "task(s) escalated"),
    Job("dispatch_workflow_tasks", dispatch_workflow_tasks, "workflow task(s) assigned"),
    Job("purge_idempotency_keys", purge_idempotency_keys, "expired idempotency key(s) deleted"),
    Job("purge_rate_limits", purge_rate_limits, "rate-limit bucket(s) deleted"),
    Job("fold_search_stats", fold_search_stats, "collection statistics folded"),
    Job("sync_collection_graphs", sync_collection_graphs, "collection graph(s) built or dropped"),
)


def lock_key(job_name: str) -> int:
    """The second key of a job's advisory lock: stable across processes and machines (not Python's hash())."""
    return zlib.crc32(job_name.encode()) - 2**31


class JobLocks:
    """The worker's advisory locks, all on one connection of their own, so no pass's transaction touches them.

    The connection is shared by the job threads under a mutex. Losing it (a restart of the server) loses the
    locks; the next `try_acquire` reconnects, so at worst one slot runs on two workers.
    """

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self._alias = alias
        self._mutex = threading.Lock()
        self._connection: Any = None

    def _cursor(self) -> Any:
        if self._connection is None or not self._connection.is_usable():
            if self._connection is not None:
                self._connection.close()
            self._connection = connections.create_connection(self._alias)
            self._connection.inc_thread_sharing()
        return self._connection.cursor()

    def try_acquire(self, job_name: str) -> bool:
        with self._mutex, self._cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s::integer, %s::integer)", [LOCK_CLASS, lock_key(job_name)])
            return bool(cursor.fetchone()[0])

    def release(self, job_name: str) -> None:
        with self._mutex, self._cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s::integer, %s::integer)", [LOCK_CLASS, lock_key(job_name)])

    def close(self) -> None:
        with self._mutex:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


@dataclass
class Pass:
    """One pass of a job, as the worker saw it (kept in `Worker.passes` for tests and the log)."""

    job: str
    slot: int
    started: float
    ended: float = math.nan
    done: int | None = None
    error: str | None = None


@dataclass
class Worker:
    """Runs `jobs`, each every `every[job.name]` seconds, one thread per job, until `stop` is set.

    `clock` is the wall clock the slots are computed from (a test may pass its own).
    """

    every: Mapping[str, float]
    jobs: Iterable[Job] = JOBS
    clock: Callable[[], float] = time.time
    stop: threading.Event = field(default_factory=threading.Event)
    passes: list[Pass] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.jobs = tuple(self.jobs)
        self._locks = JobLocks()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"worker-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        schedule = ", ".join(f"{job.name} every {self.every[job.name]:g} s" for job in self.jobs)
        logger.info("worker started: %s", schedule, extra={"event": "worker_started"})

    def shutdown(self, timeout: float) -> bool:
        """Stops taking passes, waits up to `timeout` s for the running ones; returns whether all ended."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        finished = not any(thread.is_alive() for thread in self._threads)
        self._locks.close()
        logger.info("worker stopped%s", "" if finished else " (a pass was still running)")
        return finished

    def _loop(self, job: Job) -> None:
        """One job's thread: its writes are audited as the command it stands for (a thread starts with no
        context of its own, so each thread opens it)."""
        every = self.every[job.name]
        try:
            with command_context(job.name):
                self._loop_slots(job, every)
        finally:
            connection.close()

    def _loop_slots(self, job: Job, every: float) -> None:
        while not self.stop.is_set():
            now = self.clock()
            slot = math.floor(now / every)
            slot_end = (slot + 1) * every
            if self._take(job):
                try:
                    self._run(job, slot)
                    self._wait_until(slot_end)
                finally:
                    self._release(job)
            else:
                self._wait_until(slot_end)

    def _take(self, job: Job) -> bool:
        try:
            return self._locks.try_acquire(job.name)
        except Exception:
            logger.exception("job %s: cannot reach the database for its lock", job.name)
            return False

    def _release(self, job: Job) -> None:
        try:
            self._locks.release(job.name)
        except Exception:  # the lock's connection is gone, and the lock with it
            logger.exception("job %s: could not release its lock", job.name)
            self._locks.close()

    def _wait_until(self, moment: float) -> None:
        while not self.stop.is_set():
            left = moment - self.clock()
            if left <= 0:
                return
            self.stop.wait(min(left, 1.0))

    def _run(self, job: Job, slot: int) -> None:
        with structlog.contextvars.bound_contextvars(job=job.name):  # on every line the pass logs
            record = Pass(job=job.name, slot=slot, started=time.monotonic())
            close_old_connections()
            try:
                record.done = job.run()
            except Exception as error:  # a failed pass is logged; the next slot tries again
                record.error = f"{type(error).__name__}: {error}"
                logger.exception("job %s failed", job.name)
            finally:
                close_old_connections()
                record.ended = time.monotonic()
                self.passes.append(record)
            metrics.WORKER_PASSES.labels(job=job.name, outcome="failed" if record.error else "done").inc()
            if record.error is None:
                logger.info(
                    "job %s: %s %s (%.0f ms)",
                    job.name,
                    record.done,
                    job.what,
                    (record.ended - record.started) * 1000,
                    extra={"done": record.done, "duration_ms": round((record.ended - record.started) * 1000, 1)},
                )
