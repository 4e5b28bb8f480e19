"""The task state machine through its service: every allowed and refused pair, retries, timestamps, history, guard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection, transaction

from mcpadmin.api.errors import status_of
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError
from tasks.models import Task, TaskStateTransition, TaskStatus
from tasks.services import task_create, task_delegate, task_transition
from tasks.state_machine import TRANSITIONS, allowed_targets
from tests import factories
from tests.tasks.helpers import OPERATOR, task_in

pytestmark = pytest.mark.django_db

S = TaskStatus
ALLOWED = [(a, b) for a in S.values for b in TRANSITIONS[a] if b != S.DELEGATED]
REFUSED = [(a, b) for a in S.values for b in S.values if b not in TRANSITIONS[a] and b != S.DELEGATED]


def transitions_of(task: Task) -> list[tuple[str | None, str]]:
    return list(
        TaskStateTransition.objects.filter(task=task).order_by("created_at").values_list("from_status", "to_status")
    )


@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED)
def test_every_allowed_transition_changes_the_status_and_writes_one_history_row(tenant, from_status, to_status):
    task = task_in(tenant, from_status)
    extra = {"agent_id": factories.agent(tenant).pk} if (from_status, to_status) == (S.PENDING, S.ASSIGNED) else {}
    result = task_transition(actor=OPERATOR, task_id=task.pk, to_status=to_status, reason="because", **extra)
    assert result.task.status == to_status
    assert Task.objects.get(pk=task.pk).status == to_status
    assert transitions_of(task) == [(from_status, to_status)]
    assert result.transition.reason == "because"
    assert result.transition.metadata["actor"] == {"source": "admin", "operator": "tester"}


@pytest.mark.parametrize(("from_status", "to_status"), REFUSED)
def test_every_refused_transition_is_409_with_the_allowed_targets_and_changes_nothing(tenant, from_status, to_status):
    task = task_in(tenant, from_status)
    extra = {"agent_id": factories.agent(tenant).pk} if to_status == S.ASSIGNED else {}
    with pytest.raises(DomainError) as refused:
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=to_status, **extra)
    assert status_of(refused.value) == 409
    assert refused.value.code == "illegal_transition"
    assert refused.value.details == {
        "from_status": from_status,
        "to_status": to_status,
        "allowed": allowed_targets(from_status),
    }
    assert Task.objects.get(pk=task.pk).status == from_status
    assert transitions_of(task) == []


@pytest.mark.parametrize("from_status", [S.ASSIGNED, S.IN_PROGRESS])
def test_delegated_is_reached_by_a_handoff(tenant, from_status):
    task = task_in(tenant, from_status)
    target = factories.agent(tenant)
    result = task_delegate(actor=OPERATOR, task_id=task.pk, to_agent_id=target.pk, delegation_type="handoff")
    assert (result.task.status, result.task.assigned_agent_id) == (S.DELEGATED, target.pk)
    assert transitions_of(task) == [(from_status, S.DELEGATED)]


@pytest.mark.parametrize("from_status", [S.PENDING, S.DELEGATED, S.FAILED])
def test_a_handoff_from_a_state_without_delegated_is_refused(tenant, from_status):
    task = task_in(tenant, from_status)
    with pytest.raises(DomainError) as refused:
        task_delegate(
            actor=OPERATOR, task_id=task.pk, to_agent_id=factories.agent(tenant).pk, delegation_type="handoff"
        )
    assert (status_of(refused.value), refused.value.code) == (409, "illegal_transition")
    assert S.DELEGATED not in refused.value.details["allowed"]


def test_delegated_through_transition_points_to_the_delegate_endpoint(tenant):
    task = task_in(tenant, S.ASSIGNED)
    with pytest.raises(DomainError) as refused:
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.DELEGATED)
    assert (status_of(refused.value), list(refused.value.details)) == (400, ["to_status"])


DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "developers" / "tasks.md"


def test_the_documented_table_is_the_code_table():
    section = DOCS_PAGE.read_text().split("## Task state machine")[1].split("\n## ")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.MULTILINE))
    documented = {status: tuple(re.findall(r"`(\w+)`", targets)) for status, targets in rows.items()}
    assert documented == {status: tuple(targets) for status, targets in TRANSITIONS.items()}


def test_the_documented_diagram_is_the_code_table():
    section = DOCS_PAGE.read_text().split("## Task state machine")[1].split("\n## ")[0]
    diagram = section.split("```mermaid\n")[1].split("```")[0]
    edges = re.findall(r"^\s*(\w+) --> (\w+)$", diagram, re.MULTILINE)
    drawn = {status: tuple(target for source, target in edges if source == status) for status in TRANSITIONS}
    assert drawn == {status: tuple(targets) for status, targets in TRANSITIONS.items()}


def test_a_retry_increments_retry_count_until_max_retries_then_409(tenant):
    agent = factories.agent(tenant)
    task = task_in(tenant, S.FAILED, agent=agent, max_retries=2)
    for attempt in (1, 2):
        result = task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.PENDING, reason="retry")
        assert (result.task.status, result.task.retry_count) == (S.PENDING, attempt)
        assert result.transition.metadata["retry"] == attempt
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.ASSIGNED, agent_id=agent.pk)
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.IN_PROGRESS)
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.FAILED, error_message=f"attempt {attempt}")
    with pytest.raises(DomainError) as refused:
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.PENDING)
    assert refused.value.code == "retries_exhausted"
    assert refused.value.details == {"retry_count": 2, "max_retries": 2}
    assert task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.CANCELLED).task.status == S.CANCELLED


def test_lifecycle_timestamps_follow_the_status(tenant):
    agent = factories.agent(tenant)
    task = task_create(actor=OPERATOR, tenant=tenant, title="t").obj
    assert (task.assigned_at, task.started_at, task.completed_at) == (None, None, None)
    task = task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.ASSIGNED, agent_id=agent.pk).task
    assert task.assigned_agent_id == agent.pk
    assert task.assigned_at is not None
    assert task.status_changed_at == task.assigned_at
    task = task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.IN_PROGRESS).task
    assert task.started_at > task.assigned_at
    task = task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.FAILED, error_message="boom").task
    assert (task.error_message, task.completed_at > task.started_at) == ("boom", True)
    task = task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.PENDING).task
    assert (task.assigned_agent_id, task.assigned_at, task.started_at, task.completed_at) == (None, None, None, None)
    task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.ASSIGNED, agent_id=agent.pk)
    task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.IN_PROGRESS)
    task = task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.COMPLETED, output_data={"answer": 42}).task
    assert (task.output_data, task.completed_at is not None) == ({"answer": 42}, True)
    assert transitions_of(task) == [
        (None, S.PENDING), (S.PENDING, S.ASSIGNED), (S.ASSIGNED, S.IN_PROGRESS), (S.IN_PROGRESS, S.FAILED),
        (S.FAILED, S.PENDING), (S.PENDING, S.ASSIGNED), (S.ASSIGNED, S.IN_PROGRESS), (S.IN_PROGRESS, S.COMPLETED),
    ]  # fmt: skip


def test_a_task_created_with_an_agent_starts_assigned_with_one_history_row(tenant):
    agent = factories.agent(tenant)
    task = task_create(actor=OPERATOR, tenant=tenant, title="t", assigned_agent_id=agent.pk).obj
    assert (task.status, task.assigned_agent_id, task.assigned_at is not None) == (S.ASSIGNED, agent.pk, True)
    assert transitions_of(task) == [(None, S.ASSIGNED)]


def test_output_data_error_message_and_agent_id_go_only_with_their_status(tenant):
    task = task_in(tenant, S.IN_PROGRESS)
    for kwargs in ({"output_data": {}}, {"error_message": "x"}, {"agent_id": task.assigned_agent_id}):
        with pytest.raises(DomainError) as refused:
            task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.CANCELLED, **kwargs)
        assert (status_of(refused.value), list(refused.value.details)) == (400, list(kwargs))
    with pytest.raises(DomainError) as refused:
        task_transition(actor=OPERATOR, task_id=task.pk, to_status="finished")
    assert list(refused.value.details) == ["to_status"]


def test_when_an_agent_key_acts_the_history_names_the_agent_and_the_key(tenant):
    issued = factories.issued_key(tenant, "agent")
    task = task_in(tenant, S.ASSIGNED, agent=issued.key.agent)
    actor = Actor.for_key(issued.key)
    transition = task_transition(actor=actor, task_id=task.pk, to_status=S.IN_PROGRESS).transition
    assert transition.transitioned_by_id == issued.key.agent_id
    assert transition.metadata["actor"] == {
        "source": "api",
        "api_key_id": str(issued.key.id),
        "key_type": "agent",
        "agent_id": str(issued.key.agent_id),
    }


# --- the database guard -----------------------------------------------------------------------------------------


def test_a_raw_sql_status_change_is_recorded_by_the_database(tenant, sql):
    task = task_in(tenant, S.IN_PROGRESS)
    before = Task.objects.get(pk=task.pk).status_changed_at
    sql("UPDATE mcp.tasks SET status = 'completed' WHERE id = %s", [task.pk])
    (row,) = TaskStateTransition.objects.filter(task=task)
    assert (row.from_status, row.to_status, row.transitioned_by_id) == (S.IN_PROGRESS, S.COMPLETED, None)
    assert row.reason == "status changed outside the task service"
    assert row.metadata["source"] == "database"
    assert Task.objects.get(pk=task.pk).status_changed_at > before


def test_an_orm_update_that_bypasses_the_service_is_recorded_too(tenant):
    task = task_in(tenant, S.PENDING)
    Task.objects.filter(pk=task.pk).update(status=S.CANCELLED)
    assert transitions_of(task) == [(S.PENDING, S.CANCELLED)]


def test_updates_that_keep_the_status_record_nothing(tenant, sql):
    task = task_in(tenant, S.PENDING)
    sql("UPDATE mcp.tasks SET status = status, title = 'renamed' WHERE id = %s", [task.pk])
    assert transitions_of(task) == []


def test_the_service_writes_exactly_one_row_and_its_announcement_is_used_once(tenant, sql):
    task = task_in(tenant, S.ASSIGNED)
    with transaction.atomic():
        task_transition(actor=OPERATOR, task_id=task.pk, to_status=S.IN_PROGRESS)
        sql("UPDATE mcp.tasks SET status = 'assigned' WHERE id = %s", [task.pk])
        sql("UPDATE mcp.tasks SET status = 'in_progress' WHERE id = %s", [task.pk])
    rows = TaskStateTransition.objects.filter(task=task).order_by("created_at")
    assert [(r.from_status, r.to_status, r.metadata.get("source")) for r in rows] == [
        (S.ASSIGNED, S.IN_PROGRESS, None),
        (S.IN_PROGRESS, S.ASSIGNED, "database"),
        (S.ASSIGNED, S.IN_PROGRESS, "database"),
    ]
    assert rows[0].metadata["actor"]["source"] == "admin"


def test_the_guard_is_a_trigger_of_the_tasks_table(sql):
    triggers = sql("SELECT tgname FROM pg_trigger WHERE tgrelid = 'mcp.tasks'::regclass AND NOT tgisinternal")
    # Besides the audit trail's (audit/tracking.py, tested in tests/audit).
    assert [name for (name,) in triggers if not name.startswith("pgtrigger_audit_")] == ["tasks_status_change_guard"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('mcp.task_status_change', true)")
        assert cursor.fetchone()[0] in (None, "")
