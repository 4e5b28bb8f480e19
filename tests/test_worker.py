"""The worker (mcpadmin/worker.py): every periodic job runs on its schedule and does its service's work; two
workers never run the same job at once, nor one slot twice; SIGTERM stops a worker after its running pass.

Real workers (threads, their own connections) on the test database, with periods of a fraction of a second.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apikeys.models import RateLimitBucket
from mcpadmin import worker as worker_module
from mcpadmin.worker import JOBS, Job, Worker
from tasks.models import Task, TaskIdempotencyKey
from tests import factories
from tests.tasks.helpers import task_in
from tests.workflows.helpers import active_workflow, run, step_tasks, worker

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parent.parent


def run_until(workers: list[Worker], done: Callable[[], bool], timeout: float = 20.0) -> None:
    for each in workers:
        each.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done():
            time.sleep(0.1)
    finally:
        for each in workers:
            assert each.shutdown(timeout=10), "a worker did not stop"


def test_every_job_has_a_schedule_and_a_distinct_lock():
    assert set(settings.MCPADMIN_WORKER_EVERY) == {job.name for job in JOBS}
    assert len({worker_module.lock_key(job.name) for job in JOBS}) == len(JOBS)


def test_each_job_runs_on_its_schedule_and_does_its_services_work(tenant):
    due = task_in(tenant, "in_progress", auto_escalate=True, escalation_timeout=timedelta(minutes=10))
    Task.objects.filter(pk=due.pk).update(status_changed_at=timezone.now() - timedelta(minutes=11))
    TaskIdempotencyKey.objects.create(
        idempotency_key=f"{tenant.id}:old",
        task=due,
        tenant=tenant,
        request_fingerprint="0" * 64,
        response_status=201,
        response_body="{}",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    stale = RateLimitBucket.objects.create(bucket="key:stale", minute_hits=1, minute_start=timezone.now())
    RateLimitBucket.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=3))
    admin_api = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    flow = active_workflow(
        admin_api, "sequential", {"steps": [{"id": "a", "task": {"title": "a", "capabilities": ["x"]}}]}
    )
    started = run(admin_api, flow)
    assert step_tasks(started["id"], "a")[0].status == "pending", "nobody can take it yet"
    capable = worker(tenant, "arrives-later", capabilities=["x"])  # a row, no heartbeat: only dispatch assigns it

    every = 0.4
    runner = Worker(every=dict.fromkeys(settings.MCPADMIN_WORKER_EVERY, every))
    run_until([runner], lambda: all(sum(p.job == job.name for p in runner.passes) >= 3 for job in JOBS))

    for job in JOBS:
        passes = [p for p in runner.passes if p.job == job.name]
        assert len(passes) >= 3, passes
        assert all(p.error is None for p in passes), passes
        slots = [p.slot for p in passes]
        assert slots == sorted(set(slots)), f"{job.name}: one pass per slot, in order"
    due.refresh_from_db()
    assert due.priority == "high"
    assert due.last_escalated_at is not None
    assert not TaskIdempotencyKey.objects.filter(idempotency_key=f"{tenant.id}:old").exists()
    assert not RateLimitBucket.objects.filter(pk=stale.pk).exists()
    assert step_tasks(started["id"], "a")[0].assigned_agent == capable.agent
    assert next(p for p in runner.passes if p.job == "escalate_tasks").done == 1


def test_two_workers_never_run_the_same_job_at_once_nor_one_slot_twice():
    spans: list[tuple[float, float]] = []
    guard = threading.Lock()

    def slow_pass() -> int:
        started = time.monotonic()
        time.sleep(0.5)  # longer than the period: the next slot is due while it runs
        with guard:
            spans.append((started, time.monotonic()))
        return 1

    probe = [Job("probe", slow_pass, "probe pass(es)")]
    workers = [Worker(every={"probe": 0.3}, jobs=probe) for _ in range(2)]
    run_until(workers, lambda: len(spans) >= 6)

    ordered = sorted(spans)
    for (_, ended), (next_started, _) in itertools.pairwise(ordered):
        assert next_started >= ended, f"two passes overlapped: {ordered}"
    slots = [p.slot for each in workers for p in each.passes]
    assert len(slots) == len(set(slots)), f"a slot ran twice: {sorted(slots)}"


def test_a_job_that_fails_is_logged_and_runs_again_in_the_next_slot(caplog):
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return 0

    runner = Worker(every={"flaky": 0.2}, jobs=[Job("flaky", flaky, "nothing")])
    run_until([runner], lambda: len(calls) >= 2)
    assert runner.passes[0].error == "RuntimeError: database hiccup"
    assert runner.passes[1].error is None
    assert "job flaky failed" in caplog.text


def test_the_command_stops_on_sigterm_after_finishing_its_pass():
    env = {
        **os.environ,
        "MCPADMIN_DB_NAME": connection.settings_dict["NAME"],
        "MCPADMIN_EVERY_ESCALATE_TASKS": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "run_worker", "--only", "escalate_tasks"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "job escalate_tasks:" in line:
            break
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    lines.append(output)
    assert process.returncode == 0, "".join(lines)
    assert "worker stopped" in "".join(lines)


def test_a_worker_whose_lock_connection_dies_reconnects_and_keeps_running():
    runner = Worker(every={"probe": 0.2}, jobs=[Job("probe", lambda: 0, "nothing")])
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while len(runner.passes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        with runner._locks._mutex:  # the server ends the lock connection, as a restart or a network cut would
            backend = runner._locks._connection.connection.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        seen = len(runner.passes)
        while len(runner.passes) < seen + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(runner.passes) >= seen + 3, "the job went on after the lock connection died"
    finally:
        assert runner.shutdown(timeout=10)
