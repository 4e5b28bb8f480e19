"""Creating tasks and changing what they ask for (not their status: `tasks.services.status`).

An idempotent creation inserts its key in the transaction that creates the
task; a duplicate waits on the key's unique index, then replays the first
response (`task_create`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import invalid, not_allowed
from mcpadmin.core.fields import field_refusal
from mcpadmin.core.idempotency import (
    Claim,
    Creation,
    claim_key,
    create_idempotently,
)
from mcpadmin.core.validation import UNSET, clean_object, clean_text
from tasks import state_machine
from tasks.models import (
    FINAL_TASK_STATUSES,
    Task,
    TaskIdempotencyKey,
    TaskPriority,
    TaskStateTransition,
    TaskStatus,
)
from tasks.policy import TASK_FIELD_WRITERS
from tasks.services.access import creation_references, may_manage, visible_task
from tasks.services.status import final_conflict
from tenants.models import Tenant

MAX_TITLE_LENGTH = 500
MAX_RETRIES_LIMIT = 100
MAX_ESCALATION_TIMEOUT = timedelta(days=30)


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
        return created_by == actor.key_id or Task.objects.visible_to(actor).filter(pk=previous.task_id).exists()

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
    agent = creation_references(
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
    and others' (moderator and above), the fields `tasks.policy.TASK_FIELD_WRITERS` gives agents."""
    task = visible_task(actor, task_id)
    if not may_manage(actor, task):
        raise not_allowed(
            "Only admin, service and gateway keys edit tasks (in a workspace: its moderators, and contributors "
            "their own tasks)."
        )
    given = {"title": title, "description": description, "priority": priority, "deadline": deadline,
             "auto_escalate": auto_escalate, "escalation_timeout": escalation_timeout}  # fmt: skip
    refusal = field_refusal(TASK_FIELD_WRITERS, actor, [name for name, value in given.items() if value is not UNSET],
                            what="a task")  # fmt: skip
    if refusal is not None:
        raise refusal
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
        raise final_conflict(task)
    updated = (
        Task.objects.filter(pk=task.pk)
        .exclude(status__in=FINAL_TASK_STATUSES)
        .update(updated_at=timezone.now(), **changes)
    )
    if not updated:
        raise final_conflict(Task.objects.get(pk=task.pk))
    task.refresh_from_db()
    return task
