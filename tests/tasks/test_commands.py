"""`escalate_tasks --loop` as a deployment runs it: its own process, several passes, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from tasks.models import Task
from tests import factories
from tests.tasks.helpers import task_in

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_escalate_tasks_loop_keeps_passing_and_stops_on_sigterm():
    tenant = factories.service_tenant()
    task = task_in(tenant, "assigned", auto_escalate=True, escalation_timeout=timedelta(minutes=1), priority="low")
    Task.objects.filter(pk=task.pk).update(status_changed_at=timezone.now() - timedelta(minutes=2))
    env = {**os.environ, "MCPADMIN_DB_NAME": connection.settings_dict["NAME"], "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "escalate_tasks", "--loop", "--interval", "0.2"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while Task.objects.get(pk=task.pk).priority == "low" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a few more passes, which find nothing due
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert f"escalated task {task.pk}" in out
    assert out.count(f"escalated task {task.pk}") == 1
    assert out.count("escalated 0 task(s)") >= 1
    assert Task.objects.get(pk=task.pk).priority == "medium"
