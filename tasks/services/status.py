"""Status changes of tasks: `change_status`, the single writer of a task's status, and `task_transition`.

A status change is a compare-and-set on the status (and assignee) the caller
saw; of two racing changes from the same state exactly one wins, the other
gets a 409. `change_status` also writes the `task_state_transitions` row and
runs the hooks of `tasks.hooks` (workflows lock their execution before the
task's row and advance it in the same transaction). The conflict explanations
(`final_conflict`, `illegal_transition`, `lost_race`, `delegation_limit`) are
shared by every service that changes a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.selectors import assignable_agent
from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, invalid
from mcpadmin.core.metrics import count_on_commit
from mcpadmin.core.validation import UNSET, clean_json, clean_text
from tasks import hooks, state_machine
from tasks.models import Task, TaskStateTransition, TaskStatus
from tasks.services.access import authorize_transition, check_worker_of, visible_task


@dataclass(frozen=True)
class TransitionResult:
    task: Task
    transition: TaskStateTransition


def final_conflict(task: Task) -> Conflict:
    """The 409 for any change to a task that is completed or cancelled."""
    return Conflict("task_final", f"The task is {task.status}: it does not change any more.", {"status": task.status})


def illegal_transition(from_status: str, to_status: str) -> Conflict:
    """The 409 for a move the state machine does not allow, with the moves it does."""
    allowed = state_machine.allowed_targets(from_status)
    return Conflict(
        "illegal_transition",
        f"A task cannot go from {from_status} to {to_status}; allowed: {', '.join(allowed) or 'none (final)'}.",
        {"from_status": from_status, "to_status": to_status, "allowed": allowed},
    )


def lost_race(task_id: Any, *, delegating: bool = False) -> Conflict:
    """The explanation when a compare-and-set found the task changed by a concurrent request."""
    fresh = Task.objects.get(pk=task_id)
    if delegating and state_machine.is_final(fresh.status):
        return final_conflict(fresh)
    if delegating and fresh.max_delegations is not None and fresh.delegation_count >= fresh.max_delegations:
        return delegation_limit(fresh)
    allowed = state_machine.allowed_targets(fresh.status)
    return Conflict(
        "transition_conflict",
        f"The task changed while this request ran: it is now {fresh.status}.",
        {"current_status": fresh.status, "allowed": allowed},
    )


def delegation_limit(task: Task) -> Conflict:
    """The 409 for a delegation past `max_delegations`."""
    return Conflict(
        "delegation_limit",
        f"The task has been delegated {task.delegation_count} times, its limit.",
        {"max_delegations": task.max_delegations, "delegation_count": task.delegation_count},
    )


def _announce_status_change(task_id: Any, to_status: str) -> None:
    """Tells the database guard (migration 0004) that this change is the service's and gets its history row here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('mcp.task_status_change', %s, true)", [f"{task_id}:{to_status}"])


def change_status(
    *,
    task: Task,
    to_status: str,
    actor: Actor,
    reason: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    condition: Q | None = None,
    metadata: dict[str, Any] | None = None,
    delegating: bool = False,
) -> TransitionResult:
    """Every status change of a task, from any path, goes through here (in the caller's transaction).

    Compare-and-set on the status and assignee that `task` holds (plus
    `condition`): if another request changed the task meanwhile, nothing is
    written and the caller gets a 409. Writes the history row and the
    lifecycle timestamps in the same transaction. The hooks of `tasks.hooks` run
    before the compare-and-set and after the history row (workflows advance there).
    """
    if not state_machine.is_allowed(task.status, to_status):
        raise illegal_transition(task.status, to_status)
    for hook in hooks.before_status_change:  # workflows: the execution's row, before the task's (lock order)
        hook(task)
    _announce_status_change(task.pk, to_status)
    matching = Task.objects.filter(pk=task.pk, status=task.status, assigned_agent_id=task.assigned_agent_id)
    if condition is not None:
        matching = matching.filter(condition)
    if not matching.update(status=to_status, status_changed_at=now, updated_at=now, **(changes or {})):
        raise lost_race(task.pk, delegating=delegating)
    transition = TaskStateTransition.objects.create(
        task=task,
        from_status=task.status,
        to_status=to_status,
        transitioned_by_id=actor.agent_id,
        reason=reason,
        metadata={**(metadata or {}), "actor": actor.audit()},
        created_at=now,
    )
    count_on_commit(metrics.TASK_TRANSITIONS, from_status=transition.from_status, to_status=to_status)
    task.refresh_from_db()
    for hook in hooks.after_status_change:
        hook(task=task, transition=transition)
    return TransitionResult(task=task, transition=transition)


@transaction.atomic
def task_transition(
    *,
    actor: Actor,
    task_id: Any,
    to_status: str,
    reason: str = "",
    output_data: Any = UNSET,
    error_message: str | None = None,
    agent_id: Any = None,
    now: datetime | None = None,
) -> TransitionResult:
    """Moves a task along the state machine (`tasks.state_machine.TRANSITIONS`).

    `agent_id` names the agent for `pending → assigned`; `output_data` goes
    with `completed`, `error_message` with `failed`. `failed → pending` is a
    retry: only while `retry_count < max_retries`, and it increments it.
    Handoffs (`→ delegated`) go through `task_delegate`.
    """
    if to_status not in TaskStatus.values:
        raise invalid("to_status", f"Unknown status {to_status!r}; the statuses are {', '.join(TaskStatus.values)}.")
    if to_status == TaskStatus.DELEGATED:
        raise invalid("to_status", "A task is handed off with POST /tasks/{id}/delegate (delegation_type handoff).")
    if output_data is not UNSET and to_status != TaskStatus.COMPLETED:
        raise invalid("output_data", "output_data goes with to_status completed only.")
    if output_data is not UNSET:
        clean_json(output_data, "output_data")
    if error_message is not None and to_status != TaskStatus.FAILED:
        raise invalid("error_message", "error_message goes with to_status failed only.")
    if agent_id is not None and to_status != TaskStatus.ASSIGNED:
        raise invalid("agent_id", "agent_id goes with to_status assigned only.")
    reason = clean_text(reason or "", "reason", 10_000, required=False)
    task = visible_task(actor, task_id)
    authorize_transition(actor, task, to_status)
    if not state_machine.is_allowed(task.status, to_status):
        raise illegal_transition(task.status, to_status)
    now = now or timezone.now()
    changes: dict[str, Any] = {}
    condition = None
    metadata: dict[str, Any] = {}
    if to_status == TaskStatus.ASSIGNED:
        if task.status == TaskStatus.PENDING:
            if agent_id is None:
                raise invalid("agent_id", "Assigning a pending task needs agent_id.")
            agent = assignable_agent(task.tenant_id, agent_id, "agent_id")
            check_worker_of(task.workspace_id, agent, "agent_id")
            changes = {"assigned_agent_id": agent.pk, "assigned_at": now}
        elif agent_id is not None and str(agent_id) != str(task.assigned_agent_id):
            raise invalid("agent_id", "A handed-off task is accepted by the agent it was handed to.")
    elif to_status == TaskStatus.IN_PROGRESS:
        changes = {"started_at": now}
    elif to_status == TaskStatus.COMPLETED:
        changes = {"completed_at": now, "output_data": None if output_data is UNSET else output_data}
    elif to_status == TaskStatus.FAILED:
        changes = {"completed_at": now, "error_message": error_message}
    elif to_status == TaskStatus.CANCELLED:
        changes = {"completed_at": now}
    elif to_status == TaskStatus.PENDING:
        changes = {"assigned_agent_id": None, "assigned_at": None, "started_at": None, "completed_at": None}
        if task.status == TaskStatus.FAILED:
            if task.retry_count >= task.max_retries:
                raise Conflict(
                    "retries_exhausted",
                    f"The task was retried {task.retry_count} times, its limit; cancel it instead.",
                    {"retry_count": task.retry_count, "max_retries": task.max_retries},
                )
            changes["retry_count"] = F("retry_count") + 1
            condition = Q(retry_count__lt=F("max_retries"))
            metadata["retry"] = task.retry_count + 1
    return change_status(
        task=task,
        to_status=to_status,
        actor=actor,
        reason=reason,
        now=now,
        changes=changes,
        condition=condition,
        metadata=metadata,
    )
