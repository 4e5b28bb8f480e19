"""Races, with real threads and their own database connections: transitions, the delegation cap, idempotent
creation, escalation runners and purgers running at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from agents.models import Agent
from mcpadmin.api.idempotency import request_fingerprint
from mcpadmin.core.actor import Actor
from mcpadmin.core.idempotency import idempotency_key_purge_expired
from tasks.api import render_task
from tasks.models import Task, TaskDelegationHistory, TaskIdempotencyKey, TaskStateTransition
from tasks.services import task_create, task_escalate_due
from tests import factories
from tests.tasks.helpers import run_concurrently, task_in

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def admin_raw_key(tenant) -> str:
    return factories.issued_key(tenant, "admin").raw_key


def test_racing_identical_transitions_exactly_one_wins():
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)
    task = task_in(tenant, "assigned")

    def start(_: int) -> int:
        api = factories.client_for(raw_key)
        return api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "in_progress"}, format="json").status_code

    statuses = Counter(run_concurrently(THREADS, start))
    assert statuses == {200: 1, 409: THREADS - 1}
    assert TaskStateTransition.objects.filter(task=task, to_status="in_progress").count() == 1


def lock_waiters() -> int:
    """Connections of this database waiting for a lock (a fresh look, not the transaction's cached one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_racing_different_transitions_from_the_same_state_exactly_one_wins():
    """Each racer has read `assigned` before any of them writes, and each target would be legal after another one
    (assigned -> in_progress, then -> cancelled, for instance): still exactly one wins."""
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)
    task = task_in(tenant, "assigned")
    targets = ["pending", "cancelled", "in_progress"] * 3

    def move(index: int) -> tuple[int, str]:
        api = factories.client_for(raw_key)
        response = api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": targets[index]}, format="json")
        return response.status_code, response.json().get("error", {}).get("code", "")

    results: list[tuple[int, str]] = []
    racers = threading.Thread(target=lambda: results.extend(run_concurrently(THREADS, move)))
    with transaction.atomic():
        Task.objects.select_for_update().get(pk=task.pk)  # the racers read, then queue on the row
        racers.start()
        deadline = time.monotonic() + 30
        while lock_waiters() < THREADS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock_waiters() == THREADS
    racers.join()
    assert [status for status, _ in results].count(200) == 1
    assert {code for status, code in results if status != 200} == {"transition_conflict"}
    assert TaskStateTransition.objects.filter(task=task).count() == 1
    assert Task.objects.get(pk=task.pk).status in targets


def test_racing_delegations_past_the_cap_only_the_allowed_number_succeed():
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)
    task = task_in(tenant, "in_progress", max_delegations=3)
    agents = [factories.agent(tenant) for _ in range(THREADS)]

    def delegate(index: int) -> tuple[int, str]:
        api = factories.client_for(raw_key)
        response = api.post(
            f"/api/v1/tasks/{task.pk}/delegate",
            {"to_agent_id": str(agents[index].pk), "delegation_type": "collaboration"},
            format="json",
        )
        return response.status_code, response.json().get("error", {}).get("code", "")

    results = Counter(run_concurrently(THREADS, delegate))
    assert results == {(200, ""): 3, (409, "delegation_limit"): THREADS - 3}
    assert Task.objects.get(pk=task.pk).delegation_count == 3
    assert TaskDelegationHistory.objects.filter(task=task).count() == 3


def test_racing_handoffs_move_the_task_once():
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)
    task = task_in(tenant, "in_progress", max_delegations=None)
    agents = [factories.agent(tenant) for _ in range(THREADS)]

    def hand_off(index: int) -> int:
        api = factories.client_for(raw_key)
        payload = {"to_agent_id": str(agents[index].pk), "delegation_type": "handoff"}
        return api.post(f"/api/v1/tasks/{task.pk}/delegate", payload, format="json").status_code

    assert Counter(run_concurrently(THREADS, hand_off)) == {200: 1, 409: THREADS - 1}
    task.refresh_from_db()
    assert (task.status, task.delegation_count) == ("delegated", 1)
    assert TaskDelegationHistory.objects.get(task=task).to_agent_id == task.assigned_agent_id


def test_concurrent_identical_requests_with_one_idempotency_key_create_exactly_one_task():
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)

    def create(_: int) -> tuple[int, str, bool]:
        api = factories.client_for(raw_key)
        response = api.post("/api/v1/tasks", {"title": "exactly once"}, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
        return response.status_code, response.json()["id"], response.has_header("Idempotent-Replayed")

    results = run_concurrently(THREADS, create)
    assert {status for status, _, _ in results} == {201}
    assert len({task_id for _, task_id, _ in results}) == 1
    assert sum(replayed for _, _, replayed in results) == THREADS - 1
    assert Task.objects.filter(tenant=tenant).count() == 1
    assert TaskIdempotencyKey.objects.filter(tenant=tenant).count() == 1


@override_settings(MCPADMIN_IDEMPOTENCY_WAIT_SECONDS=1)
def test_a_duplicate_waits_for_the_first_request_then_409_with_retry_after_and_then_replays():
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)
    started = []

    def duplicate(_: int):
        api = factories.client_for(raw_key)
        started.append(time.monotonic())
        return api.post("/api/v1/tasks", {"title": "t"}, format="json", HTTP_IDEMPOTENCY_KEY="slow")

    with transaction.atomic():  # the first request, still in flight: its task and key are not committed yet
        first = task_create(
            actor=Actor.for_command("test"),
            tenant=tenant,
            title="t",
            idempotency_key="slow",
            request_fingerprint=request_fingerprint({"title": "t"}),
            render=render_task,
        )
        (response,) = run_concurrently(1, duplicate)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_flight"
    assert response["Retry-After"] == "1"
    assert time.monotonic() - started[0] >= 1
    assert Task.objects.filter(tenant=tenant).count() == 1
    api = factories.client_for(raw_key)
    replay = api.post("/api/v1/tasks", {"title": "t"}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert (replay.status_code, replay["Idempotent-Replayed"], replay.json()["id"]) == (
        201,
        "true",
        str(first.object_id),
    )


def test_a_duplicate_of_a_request_that_fails_creates_the_task_itself():
    tenant = factories.service_tenant()
    raw_key = admin_raw_key(tenant)

    def duplicate(_: int):
        return factories.client_for(raw_key).post(
            "/api/v1/tasks", {"title": "t"}, format="json", HTTP_IDEMPOTENCY_KEY="doomed"
        )

    results = []
    with transaction.atomic():  # the first request takes the key, then fails and rolls back
        task_create(
            actor=Actor.for_command("test"),
            tenant=tenant,
            title="t",
            idempotency_key="doomed",
            request_fingerprint=request_fingerprint({"title": "t"}),
            render=render_task,
        )
        thread = threading.Thread(target=lambda: results.extend(run_concurrently(1, duplicate)))
        thread.start()
        time.sleep(0.5)  # the duplicate is now waiting on the key
        transaction.set_rollback(True)
    thread.join()
    (response,) = results
    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert Task.objects.filter(tenant=tenant).count() == 1


def test_two_escalation_runners_never_escalate_a_task_twice():
    tenant = factories.service_tenant()
    supervisor = factories.agent(tenant)
    from tenants.services import tenant_config_update

    tenant_config_update(tenant=tenant, features={"escalation_agent_id": str(supervisor.pk)})
    tasks = [
        task_in(tenant, "in_progress", auto_escalate=True, escalation_timeout=timedelta(minutes=5), priority="low")
        for _ in range(30)
    ]
    Task.objects.filter(tenant=tenant).update(status_changed_at=timezone.now() - timedelta(hours=1))
    now = timezone.now()

    def run(_: int) -> list:
        return [r.task.pk for r in task_escalate_due(actor=Actor.for_command("escalate_tasks"), now=now, batch_size=4)]

    escalated = run_concurrently(2, run)
    assert sorted(escalated[0] + escalated[1]) == sorted(task.pk for task in tasks)
    assert set(Task.objects.filter(tenant=tenant).values_list("priority", flat=True)) == {"medium"}
    for task in tasks:
        assert TaskStateTransition.objects.filter(task=task, metadata__event="escalation").count() == 1
        assert TaskDelegationHistory.objects.filter(task=task, to_agent=supervisor).count() == 1


def test_concurrent_purges_delete_every_expired_key_once():
    tenant = factories.service_tenant()
    task = factories.task(tenant)
    TaskIdempotencyKey.objects.bulk_create(
        TaskIdempotencyKey(
            idempotency_key=f"{tenant.id}:{index}",
            task=task,
            tenant=tenant,
            request_fingerprint="f",
            expires_at=timezone.now() - timedelta(minutes=1),
        )
        for index in range(60)
    )
    deleted = run_concurrently(3, lambda _: idempotency_key_purge_expired(batch_size=5))
    assert sum(deleted) == 60
    assert not TaskIdempotencyKey.objects.filter(tenant=tenant).exists()


def test_an_escalation_never_delegates_to_an_agent_disabled_while_it_runs():
    """The disable holds the agent's row when the escalation reads it: the escalation waits, then sees it disabled."""
    from tasks.services import task_escalate
    from tenants.services import tenant_config_update

    tenant = factories.service_tenant()
    supervisor = factories.agent(tenant)
    tenant_config_update(tenant=tenant, features={"escalation_agent_id": str(supervisor.pk)})
    task = task_in(tenant, "in_progress")
    locked, release = threading.Event(), threading.Event()

    def disable() -> None:
        with transaction.atomic():
            Agent.objects.select_for_update().filter(pk=supervisor.pk).update(status="disabled")
            locked.set()
            release.wait(10)
            time.sleep(0.3)  # the escalation is waiting on the row by now (or, without the lock, done)

    def escalate() -> object:
        locked.wait(10)
        release.set()
        return task_escalate(actor=Actor.for_command("escalate_tasks"), task_id=task.pk, force=True)

    _, result = run_concurrently(2, lambda index: (disable, escalate)[index]())
    assert result.delegation is None
    assert not TaskDelegationHistory.objects.filter(task=task, to_agent=supervisor).exists()
