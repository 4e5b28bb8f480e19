"""Escalating tasks: priority one level up, a supervision delegation to the tenant's escalation agent, a history row.

Runners lock due tasks with SKIP LOCKED (`task_escalate_due`); the row locks
and their order are `tasks.locks`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import NotFound
from mcpadmin.core.metrics import count_on_commit
from tasks import state_machine
from tasks.locks import task_locked, tasks_due_for_escalation_locked
from tasks.models import DelegationType, Task, TaskDelegationHistory, TaskStateTransition
from tasks.selectors import escalation_agent_for
from tasks.services.access import authorize_escalation
from tasks.services.status import final_conflict


@dataclass(frozen=True)
class EscalationResult:
    task: Task
    from_priority: str
    to_priority: str
    delegation: TaskDelegationHistory | None
    note: str


def escalation_due(task: Task, now: datetime) -> bool:
    """`escalation_timeout` has passed since the last status change and since the last escalation."""
    if not task.auto_escalate or task.escalation_timeout is None or state_machine.is_final(task.status):
        return False
    since = max(filter(None, (task.status_changed_at, task.last_escalated_at)))
    return now >= since + task.escalation_timeout


@transaction.atomic
def task_escalate(
    *, actor: Actor, task_id: Any, now: datetime | None = None, force: bool = False, reason: str = ""
) -> EscalationResult | None:
    """Escalates a task: priority one level up (`critical` stays), a `supervision` delegation to the tenant's
    escalation agent when one is configured, and a history row with the reason.

    Without `force`, only a task that is due (`escalation_due`) is escalated;
    otherwise None. The task row is locked, so concurrent runners escalate it
    once. Escalation delegations do not count against `max_delegations`.
    """
    task = task_locked(actor, task_id)
    if task is None:
        raise NotFound("No such task.")
    authorize_escalation(actor)
    if state_machine.is_final(task.status):
        raise final_conflict(task)
    now = now or timezone.now()
    if not force and not escalation_due(task, now):
        return None
    from_priority, to_priority = task.priority, state_machine.next_priority(task.priority)
    if not reason:
        reason = (
            f"escalated by {actor.operator or actor.key_type + ' key'}"
            if force
            else f"auto-escalated: no status change for {task.escalation_timeout}"
        )
    agent, note = escalation_agent_for(task)
    Task.objects.filter(pk=task.pk).update(priority=to_priority, last_escalated_at=now, updated_at=now)
    delegation = None
    if agent is not None:
        delegation = TaskDelegationHistory.objects.create(
            task_id=task.pk,
            from_agent_id=task.assigned_agent_id,
            to_agent=agent,
            delegation_type=DelegationType.SUPERVISION,
            reason=reason,
            metadata={"escalation": True, "actor": actor.audit()},
            created_at=now,
        )
    TaskStateTransition.objects.create(
        task_id=task.pk,
        from_status=task.status,
        to_status=task.status,
        reason=reason,
        metadata={
            "event": "escalation",
            "priority": {"from": from_priority, "to": to_priority},
            "escalation_agent_id": str(agent.pk) if agent else None,
            "delegation_id": str(delegation.pk) if delegation else None,
            "note": note,
            "actor": actor.audit(),
        },
        created_at=now,
    )
    count_on_commit(metrics.TASK_ESCALATIONS, delegated="yes" if delegation else "no")
    if delegation is not None:
        count_on_commit(metrics.TASK_DELEGATIONS, delegation_type=DelegationType.SUPERVISION)
    task.refresh_from_db()
    return EscalationResult(
        task=task, from_priority=from_priority, to_priority=to_priority, delegation=delegation, note=note
    )


def task_escalate_due(*, actor: Actor, now: datetime | None = None, batch_size: int = 100) -> list[EscalationResult]:
    """One pass over every task due for escalation, `batch_size` tasks per transaction.

    `FOR UPDATE SKIP LOCKED`: several runners at once share the work and
    never escalate a task twice (a row another runner holds is skipped; one it
    has escalated is not due any more when its lock is released).
    """
    now = now or timezone.now()
    results: list[EscalationResult] = []
    while True:
        with transaction.atomic():
            task_ids = tasks_due_for_escalation_locked(now, batch_size)
            escalated = [task_escalate(actor=actor, task_id=task_id, now=now) for task_id in task_ids]
        results += [result for result in escalated if result is not None]
        if len(task_ids) < batch_size or not any(escalated):
            return results
