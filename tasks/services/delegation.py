"""Delegating tasks: a handoff moves the task, the other types share it for reading.

A delegation increments `delegation_count` only while it is below
`max_delegations`, in the same UPDATE, so the cap holds under concurrency.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.selectors import assignable_agent
from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, invalid
from mcpadmin.core.metrics import count_on_commit
from mcpadmin.core.validation import clean_object, clean_text
from tasks import state_machine
from tasks.models import (
    FINAL_TASK_STATUSES,
    DelegationType,
    Task,
    TaskDelegationHistory,
    TaskStateTransition,
    TaskStatus,
)
from tasks.services.access import authorize_delegation, check_worker_of, visible_task
from tasks.services.status import change_status, delegation_limit, final_conflict, lost_race


@dataclass(frozen=True)
class DelegationResult:
    task: Task
    delegation: TaskDelegationHistory
    transition: TaskStateTransition | None


@transaction.atomic
def task_delegate(
    *,
    actor: Actor,
    task_id: Any,
    to_agent_id: Any,
    delegation_type: str,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> DelegationResult:
    """Delegates a non-final task to another active agent of its tenant.

    `handoff` moves ownership: the task becomes `delegated`, assigned to the
    target, until the target takes it (`assigned` or `in_progress`).
    `collaboration`, `supervision` and `consultation` keep the assignee and
    status and let the target read the task. Each counts against
    `max_delegations`: the increment and the check are one UPDATE, so the cap
    holds under concurrency.
    """
    if delegation_type not in DelegationType.values:
        raise invalid("delegation_type", f"delegation_type must be one of {', '.join(DelegationType.values)}.")
    metadata = clean_object(metadata if metadata is not None else {}, "metadata")
    reason = clean_text(reason or "", "reason", 10_000, required=False)
    task = visible_task(actor, task_id)
    authorize_delegation(actor, task)
    if state_machine.is_final(task.status):
        raise final_conflict(task)
    target = assignable_agent(task.tenant_id, to_agent_id, "to_agent_id")
    check_worker_of(task.workspace_id, target, "to_agent_id", handoff=delegation_type == DelegationType.HANDOFF)
    if target.pk == task.assigned_agent_id:
        raise Conflict(
            "delegate_is_assignee", "The task is already assigned to that agent.", {"to_agent_id": [str(target.pk)]}
        )
    if task.max_delegations is not None and task.delegation_count >= task.max_delegations:
        raise delegation_limit(task)
    now = now or timezone.now()
    under_cap = Q(max_delegations__isnull=True) | Q(delegation_count__lt=F("max_delegations"))
    delegation_id, from_agent_id = uuid.uuid4(), task.assigned_agent_id
    transition = None
    if delegation_type == DelegationType.HANDOFF:
        transition = change_status(
            task=task,
            to_status=TaskStatus.DELEGATED,
            actor=actor,
            reason=reason or f"handed off to {target.name}",
            now=now,
            changes={"assigned_agent_id": target.pk, "assigned_at": now, "delegation_count": F("delegation_count") + 1},
            condition=under_cap,
            metadata={"delegation_id": str(delegation_id)},
            delegating=True,
        ).transition
    else:
        updated = (
            Task.objects.filter(under_cap, pk=task.pk, assigned_agent_id=task.assigned_agent_id)
            .exclude(status__in=FINAL_TASK_STATUSES)
            .update(delegation_count=F("delegation_count") + 1, updated_at=now)
        )
        if not updated:
            raise lost_race(task.pk, delegating=True)
    delegation = TaskDelegationHistory.objects.create(
        id=delegation_id,
        task_id=task.pk,
        from_agent_id=from_agent_id,
        to_agent=target,
        delegation_type=delegation_type,
        reason=reason,
        metadata={**metadata, "actor": actor.audit()},
        created_at=now,
    )
    count_on_commit(metrics.TASK_DELEGATIONS, delegation_type=delegation_type)
    task.refresh_from_db()
    return DelegationResult(task=task, delegation=delegation, transition=transition)
