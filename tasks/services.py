"""Operations on agents and tasks: the one place that writes them, whichever path (API, admin, command) asks.

Rules that must hold under concurrency are enforced here in one transaction
each, by conditional updates the database decides:

- a status change is a compare-and-set on the status (and assignee) the
  caller saw; of two racing changes from the same state exactly one wins,
  the other gets a 409 (`change_status`, the single entry point of every
  status change, which also writes the `task_state_transitions` row);
- a delegation increments `delegation_count` only while it is below
  `max_delegations`, in the same UPDATE (`task_delegate`);
- an idempotent creation inserts its key in the transaction that creates the
  task; a duplicate waits on the key's unique index, then replays the first
  response (`task_create`);
- escalation runners lock due tasks with SKIP LOCKED (`task_escalate_due`).

Who may do what (README, "Agents and tasks"): admin, service and gateway keys
(and operators, commands) anything within their tenant; an agent key works
the tasks assigned to its agent and reads those delegated to it; a user key
reads, creates, and cancels the tasks it created. A task of a workspace is
also under the workspace's rules (README, "Workspaces"). A caller that may
see an object but not change it gets 403; one that may not see it, 404.

Workflows hook in through `tasks.hooks` (registered by the workflows app):
every status change of a workflow's task locks its execution first and
advances it in the same transaction (`change_status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.models import Agent
from agents.selectors import assignable_agent
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, Forbidden, NotFound, invalid, not_allowed
from mcpadmin.core.idempotency import (
    Claim,
    Creation,
    claim_key,
    create_idempotently,
)
from mcpadmin.core.validation import UNSET, clean_object, clean_text
from tasks import hooks, state_machine
from tasks.models import (
    FINAL_TASK_STATUSES,
    DelegationType,
    Task,
    TaskDelegationHistory,
    TaskIdempotencyKey,
    TaskPriority,
    TaskStateTransition,
    TaskStatus,
)
from tasks.selectors import escalation_agent_for, tasks_visible_to
from tenants.models import Tenant
from workspaces.models import Workspace
from workspaces.policy import MANAGE_CONTENT, READ, WRITE_CONTENT, WorkspaceAccess, access_for

MAX_TITLE_LENGTH = 500
MAX_RETRIES_LIMIT = 100
MAX_ESCALATION_TIMEOUT = timedelta(days=30)


# --- workspaces -----------------------------------------------------------------------------------------------
# A task of a workspace is also under the workspace's rules (README, "Workspaces": tasks in a workspace), decided
# by `workspaces.policy` from the caller: reading needs READ there, creating and working WRITE_CONTENT
# (contributor and above), cancelling or editing others' tasks MANAGE_CONTENT (moderator and above). Tenant
# authority (admin, service, gateway keys; operators; commands) may do everything.


def _task_workspace_access(actor: Actor, task: Task) -> WorkspaceAccess | None:
    """The caller's standing in the task's workspace; None for a task outside workspaces."""
    if task.workspace_id is None:
        return None
    return access_for(actor, Workspace.objects.get(pk=task.workspace_id))


def _workspace_forbidden(access: WorkspaceAccess, action: str, message: str) -> Forbidden:
    return Forbidden("workspace_forbidden", message, {"action": action, "role": access.role})


def _check_worker_of(workspace_id: Any, agent: Agent, field: str, *, handoff: bool = True) -> None:
    """A workspace's task goes to (or is handed off to) agents that may write there; it is shared for reading
    (collaboration, supervision, consultation) with agents that may read there. 409 otherwise."""
    if workspace_id is None:
        return
    access = access_for(Actor.for_agent(agent), Workspace.objects.get(pk=workspace_id))
    action = WRITE_CONTENT if handoff else READ
    if not access.can(action):
        raise Conflict(
            "agent_lacks_workspace_role",
            "A task of a workspace is worked by agents that may write there (contributor or above) and shared "
            "with agents that may read it.",
            {field: [str(agent.pk)], "action": action, "role": access.role},
        )


# --- tasks: creation ------------------------------------------------------------------------------------------


def _creation_references(
    actor: Actor, tenant_id: Any, *, assigned_agent_id: Any, parent_task_id: Any, workspace_id: Any
) -> Agent | None:
    if workspace_id:
        workspace = Workspace.objects.filter(pk=workspace_id, tenant_id=tenant_id).first()
        access = access_for(actor, workspace) if workspace is not None else None
        if access is None or not access.visible:
            raise invalid("workspace_id", "No such workspace in this tenant.")
        if not access.can(WRITE_CONTENT):
            message = "Creating a task in this workspace needs a contributor's role there."
            raise _workspace_forbidden(access, WRITE_CONTENT, message)
    agent = assignable_agent(tenant_id, assigned_agent_id, "assigned_agent_id") if assigned_agent_id else None
    if agent is not None:
        _check_worker_of(workspace_id, agent, "assigned_agent_id")
    if parent_task_id and not tasks_visible_to(actor).filter(pk=parent_task_id, tenant_id=tenant_id).exists():
        raise invalid("parent_task_id", "No such task in this tenant.")
    return agent


def _check_escalation(auto_escalate: bool | None, escalation_timeout: timedelta | None) -> None:
    if escalation_timeout is not None and not timedelta(0) < escalation_timeout <= MAX_ESCALATION_TIMEOUT:
        raise invalid("escalation_timeout", f"The escalation timeout is positive and at most {MAX_ESCALATION_TIMEOUT}.")
    if auto_escalate and escalation_timeout is None:
        raise invalid("escalation_timeout", "auto_escalate needs an escalation timeout.")


def task_create(
    *,
    actor: Actor,
    tenant: Tenant,
    title: str,
    description: str = "",
    priority: str = TaskPriority.MEDIUM,
    assigned_agent_id: Any = None,
    parent_task_id: Any = None,
    workspace_id: Any = None,
    input_data: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    max_retries: int = 3,
    max_delegations: int | None = 3,
    deadline: datetime | None = None,
    auto_escalate: bool = False,
    escalation_timeout: timedelta | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    render: Callable[[Task], str] | None = None,
) -> Creation:
    """Creates a task (`pending`, or `assigned` when an agent is given) and its first history row, in one transaction.

    With `idempotency_key` (the client's; scoped to the tenant here), the
    key and the response body made by `render` are stored in the same
    transaction. A key already used with the same `request_fingerprint`
    gets that first response back (`replayed`, nothing created); with
    another fingerprint, 422 `idempotency_mismatch`. The stored key is only
    read when the creation conflicts or is refused, so a new key costs one
    statement.
    """
    actor.check_tenant(tenant.id)
    if actor.is_agent and not workspace_id:
        raise not_allowed("Agent keys create tasks only in workspaces where they contribute.")
    if priority not in TaskPriority.values:
        raise invalid("priority", f"priority must be one of {', '.join(TaskPriority.values)}.")
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise invalid("max_retries", f"max_retries is 0 to {MAX_RETRIES_LIMIT}.")
    if max_delegations is not None and max_delegations < 0:
        raise invalid("max_delegations", "max_delegations is at least 0 (null: no limit).")
    _check_escalation(auto_escalate, escalation_timeout)
    values = {
        "tenant": tenant,
        "title": clean_text(title, "title", MAX_TITLE_LENGTH, required=True),
        "description": clean_text(description, "description", 100_000, required=False),
        "priority": priority,
        "parent_task_id": parent_task_id,
        "workspace_id": workspace_id,
        "created_by_key_id": actor.key_id,
        "input_data": clean_object(input_data if input_data is not None else {}, "input_data"),
        "metadata": clean_object(metadata if metadata is not None else {}, "metadata"),
        "max_retries": max_retries,
        "max_delegations": max_delegations,
        "deadline": deadline,
        "auto_escalate": auto_escalate,
        "escalation_timeout": escalation_timeout,
    }

    def insert(claim: Claim | None) -> Creation:
        return _task_insert(actor=actor, values=values, assigned_agent_id=assigned_agent_id, render=render, claim=claim)

    def may_replay(previous: TaskIdempotencyKey) -> bool:
        """The stored answer goes only to a caller that may see the task, or to the key that created it (an agent
        creating for another)."""
        created_by = Task.objects.filter(pk=previous.task_id).values_list("created_by_key_id", flat=True).first()
        return created_by == actor.key_id or tasks_visible_to(actor).filter(pk=previous.task_id).exists()

    return create_idempotently(
        tenant_id=tenant.id,
        record_model=TaskIdempotencyKey,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint,
        insert=insert,
        may_replay=may_replay,
    )


@transaction.atomic
def _task_insert(
    *,
    actor: Actor,
    values: dict[str, Any],
    assigned_agent_id: Any,
    render: Callable[[Task], str] | None,
    claim: Claim | None = None,
) -> Creation:
    tenant = values["tenant"]
    agent = _creation_references(
        actor,
        tenant.id,
        assigned_agent_id=assigned_agent_id,
        parent_task_id=values["parent_task_id"],
        workspace_id=values["workspace_id"],
    )
    now = timezone.now()
    task = insert_task(values=values, agent=agent, actor=actor, now=now)
    body = render(task) if render is not None else None
    if claim is not None:
        claim_key(claim=claim, created_id=task.pk, tenant_id=task.tenant_id, body=body, now=now)
    return Creation(object_id=task.pk, replayed=False, obj=task, response_status=201, response_body=body)


def insert_task(
    *, values: dict[str, Any], agent: Agent | None, actor: Actor, now: datetime, reason: str = "created"
) -> Task:
    """The task row (`assigned` to `agent`, else `pending`) and its first history row; checks are the caller's."""
    task = Task.objects.create(
        **values,
        status=TaskStatus.ASSIGNED if agent else TaskStatus.PENDING,
        assigned_agent=agent,
        assigned_at=now if agent else None,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    TaskStateTransition.objects.create(
        task=task,
        from_status=None,
        to_status=task.status,
        transitioned_by_id=actor.agent_id,
        reason=reason,
        metadata={"actor": actor.audit()},
        created_at=now,
    )
    return task


def _visible_task(actor: Actor, task_id: Any) -> Task:
    task = tasks_visible_to(actor).filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    return task


@transaction.atomic
def task_update(
    *,
    actor: Actor,
    task_id: Any,
    title: str = UNSET,
    description: str = UNSET,
    priority: str = UNSET,
    deadline: datetime | None = UNSET,
    auto_escalate: bool = UNSET,
    escalation_timeout: timedelta | None = UNSET,
) -> Task:
    """Changes what a task asks for, while it is not final; its status changes only through `task_transition`.

    Tenant keys edit any task; in a workspace, an agent edits the tasks it created (contributor and above)
    and others' (moderator and above)."""
    task = _visible_task(actor, task_id)
    if not _may_manage(actor, task):
        raise not_allowed(
            "Only admin, service and gateway keys edit tasks (in a workspace: its moderators, and contributors "
            "their own tasks)."
        )
    changes: dict[str, Any] = {}
    if title is not UNSET:
        changes["title"] = clean_text(title, "title", MAX_TITLE_LENGTH, required=True)
    if description is not UNSET:
        changes["description"] = clean_text(description, "description", 100_000, required=False)
    if priority is not UNSET:
        if priority not in TaskPriority.values:
            raise invalid("priority", f"priority must be one of {', '.join(TaskPriority.values)}.")
        changes["priority"] = priority
    if deadline is not UNSET:
        changes["deadline"] = deadline
    if auto_escalate is not UNSET:
        changes["auto_escalate"] = auto_escalate
    if escalation_timeout is not UNSET:
        changes["escalation_timeout"] = escalation_timeout
    _check_escalation(
        changes.get("auto_escalate", task.auto_escalate), changes.get("escalation_timeout", task.escalation_timeout)
    )
    if state_machine.is_final(task.status):
        raise _final(task)
    updated = (
        Task.objects.filter(pk=task.pk)
        .exclude(status__in=FINAL_TASK_STATUSES)
        .update(updated_at=timezone.now(), **changes)
    )
    if not updated:
        raise _final(Task.objects.get(pk=task.pk))
    task.refresh_from_db()
    return task


def _final(task: Task) -> Conflict:
    return Conflict("task_final", f"The task is {task.status}: it does not change any more.", {"status": task.status})


# --- tasks: status changes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionResult:
    task: Task
    transition: TaskStateTransition


def _illegal(from_status: str, to_status: str) -> Conflict:
    allowed = state_machine.allowed_targets(from_status)
    return Conflict(
        "illegal_transition",
        f"A task cannot go from {from_status} to {to_status}; allowed: {', '.join(allowed) or 'none (final)'}.",
        {"from_status": from_status, "to_status": to_status, "allowed": allowed},
    )


def _lost_race(task_id: Any, *, delegating: bool = False) -> Conflict:
    """The explanation when a compare-and-set found the task changed by a concurrent request."""
    fresh = Task.objects.get(pk=task_id)
    if delegating and state_machine.is_final(fresh.status):
        return _final(fresh)
    if delegating and fresh.max_delegations is not None and fresh.delegation_count >= fresh.max_delegations:
        return _delegation_limit(fresh)
    allowed = state_machine.allowed_targets(fresh.status)
    return Conflict(
        "transition_conflict",
        f"The task changed while this request ran: it is now {fresh.status}.",
        {"current_status": fresh.status, "allowed": allowed},
    )


def _delegation_limit(task: Task) -> Conflict:
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
        raise _illegal(task.status, to_status)
    for hook in hooks.before_status_change:  # workflows: the execution's row, before the task's (lock order)
        hook(task)
    _announce_status_change(task.pk, to_status)
    matching = Task.objects.filter(pk=task.pk, status=task.status, assigned_agent_id=task.assigned_agent_id)
    if condition is not None:
        matching = matching.filter(condition)
    if not matching.update(status=to_status, status_changed_at=now, updated_at=now, **(changes or {})):
        raise _lost_race(task.pk, delegating=delegating)
    transition = TaskStateTransition.objects.create(
        task=task,
        from_status=task.status,
        to_status=to_status,
        transitioned_by_id=actor.agent_id,
        reason=reason,
        metadata={**(metadata or {}), "actor": actor.audit()},
        created_at=now,
    )
    task.refresh_from_db()
    for hook in hooks.after_status_change:
        hook(task=task, transition=transition)
    return TransitionResult(task=task, transition=transition)


def _may_manage(actor: Actor, task: Task) -> bool:
    """Cancel and edit: tenant keys; in a workspace, agents with MANAGE_CONTENT, or WRITE_CONTENT for their own."""
    if actor.manages_tenant:
        return True
    access = _task_workspace_access(actor, task) if actor.is_agent else None
    if access is None:
        return False
    own = task.created_by_key_id is not None and task.created_by_key_id == actor.key_id
    return access.can(MANAGE_CONTENT) or (own and access.can(WRITE_CONTENT))


def _check_may_work(actor: Actor, task: Task) -> None:
    """The assignee of a workspace's task works it while it may write there."""
    access = _task_workspace_access(actor, task)
    if access is not None and not access.can(WRITE_CONTENT):
        message = "Working a task of this workspace needs a contributor's role there."
        raise _workspace_forbidden(access, WRITE_CONTENT, message)


def _authorize_transition(actor: Actor, task: Task, to_status: str) -> None:
    if actor.manages_tenant:
        return
    if actor.is_agent:
        if to_status == TaskStatus.CANCELLED and _may_manage(actor, task):
            return
        if task.assigned_agent_id != actor.agent_id:
            raise Forbidden(
                "not_task_owner", "Only the task's assigned agent works it; a delegate may only read it.", {}
            )
        if to_status not in state_machine.ASSIGNEE_TARGETS:
            raise not_allowed(f"The assigned agent may not move its task to {to_status}.", to_status=to_status)
        _check_may_work(actor, task)
        return
    if to_status == TaskStatus.CANCELLED and task.created_by_key_id == actor.key_id:
        return
    raise not_allowed("A user key may only cancel the tasks it created.", to_status=to_status)


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
    if error_message is not None and to_status != TaskStatus.FAILED:
        raise invalid("error_message", "error_message goes with to_status failed only.")
    if agent_id is not None and to_status != TaskStatus.ASSIGNED:
        raise invalid("agent_id", "agent_id goes with to_status assigned only.")
    reason = clean_text(reason or "", "reason", 10_000, required=False)
    task = _visible_task(actor, task_id)
    _authorize_transition(actor, task, to_status)
    if not state_machine.is_allowed(task.status, to_status):
        raise _illegal(task.status, to_status)
    now = now or timezone.now()
    changes: dict[str, Any] = {}
    condition = None
    metadata: dict[str, Any] = {}
    if to_status == TaskStatus.ASSIGNED:
        if task.status == TaskStatus.PENDING:
            if agent_id is None:
                raise invalid("agent_id", "Assigning a pending task needs agent_id.")
            agent = assignable_agent(task.tenant_id, agent_id, "agent_id")
            _check_worker_of(task.workspace_id, agent, "agent_id")
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


# --- tasks: delegation ----------------------------------------------------------------------------------------


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
    task = _visible_task(actor, task_id)
    if not actor.manages_tenant and not (actor.is_agent and task.assigned_agent_id == actor.agent_id):
        if actor.is_agent:
            raise Forbidden("not_task_owner", "Only the task's assigned agent delegates it.", {})
        raise not_allowed("A user key does not delegate tasks.")
    if not actor.manages_tenant:
        _check_may_work(actor, task)
    if state_machine.is_final(task.status):
        raise _final(task)
    target = assignable_agent(task.tenant_id, to_agent_id, "to_agent_id")
    _check_worker_of(task.workspace_id, target, "to_agent_id", handoff=delegation_type == DelegationType.HANDOFF)
    if target.pk == task.assigned_agent_id:
        raise Conflict(
            "delegate_is_assignee", "The task is already assigned to that agent.", {"to_agent_id": [str(target.pk)]}
        )
    if task.max_delegations is not None and task.delegation_count >= task.max_delegations:
        raise _delegation_limit(task)
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
            raise _lost_race(task.pk, delegating=True)
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
    task.refresh_from_db()
    return DelegationResult(task=task, delegation=delegation, transition=transition)


# --- tasks: escalation ----------------------------------------------------------------------------------------


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
    task = tasks_visible_to(actor).select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    if not actor.manages_tenant:
        raise not_allowed("Only admin, service and gateway keys escalate tasks.")
    if state_machine.is_final(task.status):
        raise _final(task)
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
    task.refresh_from_db()
    return EscalationResult(
        task=task, from_priority=from_priority, to_priority=to_priority, delegation=delegation, note=note
    )


_DUE_FOR_ESCALATION_SQL = f"""
SELECT id FROM tasks
 WHERE auto_escalate
   AND status NOT IN ({", ".join(f"'{status}'" for status in FINAL_TASK_STATUSES)})
   AND escalation_timeout IS NOT NULL
   AND status_changed_at + escalation_timeout <= %(now)s
   AND (last_escalated_at IS NULL OR last_escalated_at + escalation_timeout <= %(now)s)
 ORDER BY status_changed_at
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
"""


def task_escalate_due(*, actor: Actor, now: datetime | None = None, batch_size: int = 100) -> list[EscalationResult]:
    """One pass over every task due for escalation, `batch_size` tasks per transaction.

    `FOR UPDATE SKIP LOCKED`: several runners at once share the work and
    never escalate a task twice (a row another runner holds is skipped; one it
    has escalated is not due any more when its lock is released).
    """
    now = now or timezone.now()
    results: list[EscalationResult] = []
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_DUE_FOR_ESCALATION_SQL, {"now": now, "limit": batch_size})
            task_ids = [row[0] for row in cursor.fetchall()]
            escalated = [task_escalate(actor=actor, task_id=task_id, now=now) for task_id in task_ids]
        results += [result for result in escalated if result is not None]
        if len(task_ids) < batch_size or not any(escalated):
            return results


# --- idempotency keys -----------------------------------------------------------------------------------------
