"""Auto-escalation: when a task is due, what escalation does, the escalation agent, and the command.

The clock is moved by writing timestamps in the database or by passing `now`; nothing sleeps.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mcpadmin.api.errors import status_of
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError
from tasks.models import Task, TaskDelegationHistory, TaskStateTransition
from tasks.services import task_escalate, task_escalate_due, task_transition
from tenants.services import tenant_config_update
from tests import factories
from tests.tasks.helpers import OPERATOR, task_in

pytestmark = pytest.mark.django_db

RUNNER = Actor.for_command("escalate_tasks")
TIMEOUT = timedelta(minutes=10)


def escalating(tenant, status="in_progress", *, idle: timedelta, **fields) -> Task:
    """A task with a 10-minute escalation timeout whose status last changed `idle` ago."""
    task = task_in(tenant, status, auto_escalate=True, escalation_timeout=TIMEOUT, **fields)
    Task.objects.filter(pk=task.pk).update(status_changed_at=timezone.now() - idle)
    return Task.objects.get(pk=task.pk)


def escalations_of(task: Task) -> list[TaskStateTransition]:
    return list(TaskStateTransition.objects.filter(task=task, metadata__event="escalation").order_by("created_at"))


def test_a_task_is_escalated_once_its_timeout_has_passed_since_its_last_status_change(tenant):
    early = escalating(tenant, idle=timedelta(minutes=9), priority="low")
    due = escalating(tenant, idle=timedelta(minutes=11), priority="low")
    results = task_escalate_due(actor=RUNNER)
    assert [result.task.pk for result in results] == [due.pk]
    due.refresh_from_db()
    assert due.priority == "medium"
    assert due.last_escalated_at is not None
    (event,) = escalations_of(due)
    assert (event.from_status, event.to_status) == ("in_progress", "in_progress")
    assert event.reason == "auto-escalated: no status change for 0:10:00"
    assert event.metadata["priority"] == {"from": "low", "to": "medium"}
    assert event.metadata["note"] == "no escalation agent configured"
    assert Task.objects.get(pk=early.pk).priority == "low"
    assert escalations_of(early) == []


def test_it_is_not_escalated_again_until_another_timeout_passes(tenant):
    task = escalating(tenant, idle=timedelta(minutes=11), priority="low")
    now = timezone.now()
    assert len(task_escalate_due(actor=RUNNER, now=now)) == 1
    assert task_escalate_due(actor=RUNNER, now=now + timedelta(minutes=9)) == []
    assert len(task_escalate_due(actor=RUNNER, now=now + timedelta(minutes=10))) == 1
    assert Task.objects.get(pk=task.pk).priority == "high"
    assert len(escalations_of(task)) == 2


def test_a_status_change_restarts_the_clock(tenant):
    task = escalating(tenant, "assigned", idle=timedelta(minutes=11))
    task_transition(actor=OPERATOR, task_id=task.pk, to_status="in_progress")
    assert task_escalate_due(actor=RUNNER) == []
    assert len(task_escalate_due(actor=RUNNER, now=timezone.now() + TIMEOUT)) == 1


def test_critical_stays_critical_but_the_escalation_is_still_recorded(tenant):
    task = escalating(tenant, idle=timedelta(hours=1), priority="critical")
    (result,) = task_escalate_due(actor=RUNNER)
    assert (result.from_priority, result.to_priority, result.task.priority) == ("critical", "critical", "critical")
    assert len(escalations_of(task)) == 1


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_final_tasks_are_not_escalated(tenant, status):
    task = escalating(tenant, status, idle=timedelta(hours=1))
    assert task_escalate_due(actor=RUNNER) == []
    with pytest.raises(DomainError) as refused:
        task_escalate(actor=OPERATOR, task_id=task.pk, force=True)
    assert refused.value.code == "task_final"


def test_tasks_without_auto_escalate_are_left_alone_by_the_runner(tenant):
    task = task_in(tenant, "pending", escalation_timeout=TIMEOUT)
    Task.objects.filter(pk=task.pk).update(status_changed_at=timezone.now() - timedelta(hours=1))
    assert task_escalate_due(actor=RUNNER) == []
    assert task_escalate(actor=RUNNER, task_id=task.pk) is None
    assert task_escalate(actor=OPERATOR, task_id=task.pk, force=True).to_priority == "high"


def test_the_escalation_agent_gets_a_supervision_delegation_not_counted_against_the_cap(tenant):
    supervisor = factories.agent(tenant)
    tenant_config_update(tenant=tenant, features={"escalation_agent_id": str(supervisor.pk)})
    task = escalating(tenant, idle=timedelta(hours=1), max_delegations=0)
    (result,) = task_escalate_due(actor=RUNNER)
    assert result.delegation is not None
    delegation = TaskDelegationHistory.objects.get(task=task)
    assert (delegation.to_agent_id, delegation.from_agent_id) == (supervisor.pk, task.assigned_agent_id)
    assert (delegation.delegation_type, delegation.metadata["escalation"]) == ("supervision", True)
    assert delegation.reason == escalations_of(task)[0].reason
    assert escalations_of(task)[0].metadata["delegation_id"] == str(delegation.pk)
    assert Task.objects.get(pk=task.pk).delegation_count == 0


def test_the_escalation_agent_may_read_the_task_it_supervises(tenant):
    issued = factories.issued_key(tenant, "agent")
    tenant_config_update(tenant=tenant, features={"escalation_agent_id": str(issued.key.agent_id)})
    task = escalating(tenant, idle=timedelta(hours=1))
    api = factories.client_for(issued.raw_key)
    assert api.get(f"/api/v1/tasks/{task.pk}").status_code == 404
    task_escalate_due(actor=RUNNER)
    assert api.get(f"/api/v1/tasks/{task.pk}").status_code == 200


@pytest.mark.parametrize(
    ("configure", "note"),
    [
        (lambda tenant, task: "not-a-uuid", "features.escalation_agent_id is not a UUID"),
        (lambda tenant, task: str(factories.agent(factories.tenant()).pk), "does not exist in this tenant"),
        (lambda tenant, task: str(factories.agent(tenant, status="disabled").pk), "is disabled"),
        (lambda tenant, task: str(task.assigned_agent_id), "is the task's assignee"),
    ],
    ids=["not-a-uuid", "other-tenant", "disabled", "assignee"],
)
def test_an_unusable_escalation_agent_still_escalates_without_delegation(tenant, configure, note):
    task = escalating(tenant, idle=timedelta(hours=1))
    tenant_config_update(tenant=tenant, features={"escalation_agent_id": configure(tenant, task)})
    (result,) = task_escalate_due(actor=RUNNER)
    assert result.delegation is None
    assert note in result.note
    assert note in escalations_of(task)[0].metadata["note"]
    assert not TaskDelegationHistory.objects.filter(task=task).exists()


def test_only_managing_keys_escalate(tenant):
    task = escalating(tenant, idle=timedelta(hours=1))
    user = factories.issued_key(tenant, "user").key
    with pytest.raises(DomainError) as refused:
        task_escalate(actor=Actor.for_key(user), task_id=task.pk, force=True)
    assert status_of(refused.value) == 403


def test_the_runner_works_in_batches(tenant):
    tasks = [escalating(tenant, idle=timedelta(hours=1), priority="low") for _ in range(7)]
    assert len(task_escalate_due(actor=RUNNER, batch_size=2)) == 7
    assert set(Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("priority", flat=True)) == {"medium"}


def test_the_command_prints_what_it_did(tenant, capsys):
    task = escalating(tenant, idle=timedelta(hours=1), priority="medium", title="stuck")
    call_command("escalate_tasks")
    out = capsys.readouterr().out
    assert f"escalated task {task.pk} ('stuck'" in out
    assert "priority medium -> high; no escalation agent configured" in out
    assert out.strip().endswith("escalated 1 task(s)")
    call_command("escalate_tasks")
    assert capsys.readouterr().out.strip() == "escalated 0 task(s)"
