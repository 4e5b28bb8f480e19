"""Operations on workflows and their executions: the one place that writes them (the engine, `workflows.engine`,
advances executions; `workflows.locks` holds the row locks and their order).

Functions `<entity>_<verb>`, keyword-only, one transaction each. Task
status changes reach executions through the hooks this app registers on
`tasks.hooks` (`execution_on_task_changed`), and agents that become
available through `agents.hooks` (`workflow_tasks_dispatch`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from agents.models import Agent, AgentStatus
from agents.selectors import online_since
from agents.services import MAX_NAME_LENGTH
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, DomainError, Forbidden, NotFound
from mcpadmin.core.idempotency import (
    Claim,
    Creation,
    claim_key,
    create_idempotently,
)
from mcpadmin.core.validation import UNSET, clean_json, clean_text
from tasks.models import Task, TaskStateTransition, TaskStatus
from tenants.models import Tenant
from workflows.definition import MAP_NODE, Plan, validate_definition
from workflows.engine import ENGINE_METADATA, MAX_MAP_ITEMS, WAITING, Run, agent_for, engine_change
from workflows.locks import execution_lock, execution_status_if_free, executions_locked, workflow_share_locked
from workflows.models import (
    RETIRED_WORKFLOW_STATUSES,
    ExecutionStatus,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionIdempotencyKey,
    WorkflowStatus,
    WorkflowType,
)

W = WorkflowStatus

#: The workflow status machine (docs, "Workflows").
WORKFLOW_TRANSITIONS: dict[str, tuple[str, ...]] = {
    W.DRAFT: (W.ACTIVE, W.ARCHIVED),
    W.ACTIVE: (W.PAUSED, W.COMPLETED, W.FAILED, W.ARCHIVED),
    W.PAUSED: (W.ACTIVE, W.ARCHIVED),
    W.COMPLETED: (W.ARCHIVED,),
    W.FAILED: (W.ARCHIVED,),
    W.ARCHIVED: (),
}

DISPATCH_BATCH = 50


def _forbid_unless_managing(actor: Actor, what: str) -> None:
    if not actor.manages_tenant:
        raise Forbidden("action_not_allowed", f"Only admin, service and gateway keys {what}.", {})


def _visible_workflows(actor: Actor) -> Any:
    workflows = Workflow.objects.all()
    return workflows.filter(tenant_id=actor.tenant_id) if actor.tenant_id is not None else workflows


# --- workflows --------------------------------------------------------------------------------------------------


@transaction.atomic
def workflow_create(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str,
    workflow_type: str,
    definition: Any,
    description: str = "",
) -> Workflow:
    """A new `draft` workflow; its definition is validated (400 with every problem by place)."""
    if actor.tenant_id is not None and actor.tenant_id != tenant.id:
        raise Forbidden("cross_tenant", "A key acts only within its own tenant.")
    _forbid_unless_managing(actor, "write workflows")
    if workflow_type not in WorkflowType.values:
        raise DomainError(
            "invalid", "Unknown workflow type.", {"workflow_type": [f"one of {', '.join(WorkflowType.values)}"]}
        )
    name = clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    description = clean_text(description, "description", 10_000, required=False)
    validate_definition(workflow_type, definition, tenant_id=tenant.id)
    try:
        with transaction.atomic():
            return Workflow.objects.create(
                tenant=tenant, name=name, description=description, workflow_type=workflow_type, definition=definition
            )
    except IntegrityError as error:
        raise Conflict("workflow_exists", f"The tenant has a workflow named {name!r}.", {"name": [name]}) from error


@transaction.atomic
def workflow_update(
    *, actor: Actor, workflow_id: Any, name: str = UNSET, description: str = UNSET, definition: Any = UNSET
) -> Workflow:
    """Renames, redescribes or redefines a workflow. A new definition is validated and bumps `version`;
    running executions keep the definition they started with. Retired workflows do not change (409)."""
    workflow = _visible_workflows(actor).select_for_update().filter(pk=workflow_id).first()
    if workflow is None:
        raise NotFound("No such workflow.")
    _forbid_unless_managing(actor, "write workflows")
    if workflow.status in RETIRED_WORKFLOW_STATUSES:
        raise Conflict(
            "workflow_retired", f"The workflow is {workflow.status}: it does not change.", {"status": workflow.status}
        )
    if name is not UNSET:
        workflow.name = clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    if description is not UNSET:
        workflow.description = clean_text(description, "description", 10_000, required=False)
    if definition is not UNSET and definition != workflow.definition:
        validate_definition(workflow.workflow_type, definition, tenant_id=workflow.tenant_id)
        workflow.definition = definition
        workflow.version = F("version") + 1
    try:
        with transaction.atomic():
            workflow.save()
    except IntegrityError as error:
        raise Conflict(
            "workflow_exists", f"The tenant has a workflow named {workflow.name!r}.", {"name": [workflow.name]}
        ) from error
    workflow.refresh_from_db()
    return workflow


def workflow_allowed_targets(status: str) -> list[str]:
    return list(WORKFLOW_TRANSITIONS.get(status, ()))


@transaction.atomic
def workflow_transition(*, actor: Actor, workflow_id: Any, to_status: str, reason: str = "") -> Workflow:
    """Moves a workflow along its status machine.

    `→ paused` stops new steps of its running executions from starting;
    `paused → active` starts what was held back, in this transaction;
    `→ archived` cancels its running executions; `→ completed | failed`
    needs none to be running (409 `executions_running`).
    """
    if to_status not in W.values:
        raise DomainError("invalid", "Unknown status.", {"to_status": [f"one of {', '.join(W.values)}"]})
    workflow = _visible_workflows(actor).filter(pk=workflow_id).first()
    if workflow is None:
        raise NotFound("No such workflow.")
    _forbid_unless_managing(actor, "change workflows")
    if to_status not in WORKFLOW_TRANSITIONS[workflow.status]:
        allowed = workflow_allowed_targets(workflow.status)
        raise Conflict(
            "illegal_transition",
            f"A workflow cannot go from {workflow.status} to {to_status}; allowed: {', '.join(allowed) or 'none'}.",
            {"from_status": workflow.status, "to_status": to_status, "allowed": allowed},
        )
    running = _lock_running_executions(workflow.pk)
    if to_status in (W.COMPLETED, W.FAILED) and running:
        raise Conflict(
            "executions_running",
            f"{len(running)} execution(s) of this workflow are running; cancel them or archive the workflow.",
            {"running": [str(execution.pk) for execution in running]},
        )
    now = timezone.now()
    if not Workflow.objects.filter(pk=workflow.pk, status=workflow.status).update(status=to_status, updated_at=now):
        raise Conflict("transition_conflict", "The workflow changed while this request ran; read it again.", {})
    reason = reason or f"workflow {to_status}"
    for execution in running:
        run = Run(execution, trigger=actor, now=now)
        if to_status == W.ARCHIVED:
            run.cancel(f"the workflow was archived: {reason}")
        elif to_status == W.ACTIVE:
            run.advance()
        run.save()
    workflow.refresh_from_db()
    return workflow


def _lock_running_executions(workflow_id: Any) -> list[WorkflowExecution]:
    return list(
        executions_locked(WorkflowExecution.objects)
        .filter(workflow_id=workflow_id, status=ExecutionStatus.RUNNING)
        .order_by("pk")
    )


# --- executions -------------------------------------------------------------------------------------------------


def execution_start(
    *,
    actor: Actor,
    workflow_id: Any,
    input_data: Any = None,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    render: Any = None,
) -> Creation:
    """Starts a run of an `active` workflow with `input_data`: the execution row and the tasks of its first steps.

    Idempotent with `idempotency_key` exactly like `tasks.services.task_create`
    (`mcpadmin.core.idempotency`; own table `workflow_execution_idempotency_keys`).
    """
    input_data = {} if input_data is None else input_data
    if not isinstance(input_data, dict):
        raise DomainError("invalid", "input must be an object.", {"input": ["must be an object"]})
    clean_json(input_data, "input")
    if idempotency_key is not None and actor.tenant_id is None:
        raise DomainError("invalid", "Idempotency keys belong to API callers.", {"Idempotency-Key": ["not here"]})

    def insert(claim: Claim | None) -> Creation:
        return _execution_insert(
            actor=actor, workflow_id=workflow_id, input_data=input_data, render=render, claim=claim
        )

    def may_replay(previous: WorkflowExecutionIdempotencyKey) -> bool:
        return _visible_executions(actor).filter(pk=previous.execution_id).exists()

    return create_idempotently(
        tenant_id=actor.tenant_id,
        record_model=WorkflowExecutionIdempotencyKey,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint,
        insert=insert,
        may_replay=may_replay,
    )


@transaction.atomic
def _execution_insert(
    *, actor: Actor, workflow_id: Any, input_data: dict[str, Any], render: Any, claim: Claim | None = None
) -> Creation:
    try:
        workflow_pk = uuid.UUID(str(workflow_id))
    except ValueError as error:
        raise NotFound("No such workflow.") from error
    # FOR SHARE: a pause or archive waits until this execution has started (and then sees it).
    workflow = workflow_share_locked(workflow_pk)
    if workflow is None or (actor.tenant_id is not None and workflow.tenant_id != actor.tenant_id):
        raise NotFound("No such workflow.")
    _forbid_unless_managing(actor, "run workflows")
    if workflow.status != W.ACTIVE:
        raise Conflict(
            "workflow_not_active",
            f"The workflow is {workflow.status}; only active workflows run.",
            {"status": workflow.status},
        )
    plan = validate_definition(workflow.workflow_type, workflow.definition, tenant_id=workflow.tenant_id)
    _check_input(plan, input_data)
    now = timezone.now()
    execution = WorkflowExecution.objects.create(
        tenant_id=workflow.tenant_id,
        workflow=workflow,
        input_data=input_data,
        state=_initial_state(workflow, plan),
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    run = Run(execution, trigger=actor, now=now, plan=plan, workflow_status=workflow.status)
    run.start()
    run.save()
    execution.refresh_from_db()
    body = render(execution) if render is not None else None
    if claim is not None:
        claim_key(claim=claim, created_id=execution.pk, tenant_id=execution.tenant_id, body=body, now=now)
    return Creation(object_id=execution.pk, replayed=False, obj=execution, response_status=201, response_body=body)


def _check_input(plan: Plan, input_data: dict[str, Any]) -> None:
    """A map over the execution's input needs a non-empty list there (400 before anything starts)."""
    for node in plan.nodes:
        if node.kind == MAP_NODE and node.items is not None and node.items.segments[:1] == ("input",):
            items = node.items.resolve({"input": input_data})
            if not isinstance(items, list) or not 0 < len(items) <= MAX_MAP_ITEMS:
                problem = f"{node.items.source} must be a non-empty list of at most {MAX_MAP_ITEMS} items"
                raise DomainError("invalid", f"The map step {node.id!r} cannot run: {problem}.", {"input": [problem]})


def _initial_state(workflow: Workflow, plan: Plan) -> dict[str, Any]:
    return {
        "workflow_version": workflow.version,
        "workflow_type": workflow.workflow_type,
        "definition": workflow.definition,
        "iteration": 0,
        "winner": None,
        "nodes": {node.id: {"status": WAITING, "slots": []} for node in plan.nodes},
        "tasks": {},
    }


@transaction.atomic
def execution_cancel(*, actor: Actor, execution_id: Any, reason: str = "") -> WorkflowExecution:
    """Cancels a running execution and every open task of it (409 `execution_finished` otherwise)."""
    execution = executions_locked(_visible_executions(actor)).filter(pk=execution_id).first()
    if execution is None:
        raise NotFound("No such execution.")
    _forbid_unless_managing(actor, "cancel executions")
    if execution.status != ExecutionStatus.RUNNING:
        raise Conflict("execution_finished", f"The execution is {execution.status}.", {"status": execution.status})
    reason = clean_text(reason or "", "reason", 10_000, required=False)
    run = Run(execution, trigger=actor, now=timezone.now())
    run.cancel(reason or f"cancelled by {actor.operator or (actor.key_type or '') + ' key'}")
    run.save()
    execution.refresh_from_db()
    return execution


def _visible_executions(actor: Actor) -> Any:
    executions = WorkflowExecution.objects.all()
    return executions.filter(tenant_id=actor.tenant_id) if actor.tenant_id is not None else executions


def execution_on_task_changed(*, task: Task, transition: TaskStateTransition) -> None:
    """A `tasks.hooks` after-change hook: in the task's transaction, the execution already locked.

    A task that ends (completed; failed, after its automatic retries;
    cancelled by someone) settles its step's slot and advances the
    execution. The engine's own changes (cancelling, retrying, assigning)
    carry `metadata.workflow_engine` and are not fed back.
    """
    if task.workflow_execution_id is None:
        return
    if (transition.metadata or {}).get(ENGINE_METADATA) or task.status not in (
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    ):
        return
    execution = executions_locked(WorkflowExecution.objects).get(pk=task.workflow_execution_id)
    if execution.status != ExecutionStatus.RUNNING:
        return
    trigger = (transition.metadata or {}).get("actor", {})
    run = Run(execution, trigger=trigger, now=transition.created_at or timezone.now())
    run.on_task_settled(task)
    run.save()


# --- assignment -------------------------------------------------------------------------------------------------


_PENDING_FOR_AGENT_SQL = """
SELECT t.id, t.created_at FROM tasks t JOIN workflow_executions e ON e.id = t.workflow_execution_id
 WHERE t.tenant_id = %(tenant_id)s AND t.status = 'pending' AND e.status = 'running'
   AND (t.metadata->'workflow'->>'agent_id' = %(agent_id)s
        OR (%(online)s AND t.metadata->'workflow'->>'agent_id' IS NULL
            AND COALESCE(t.metadata->'workflow'->'capabilities', '[]'::jsonb) <@ %(capabilities)s::jsonb))
 ORDER BY t.created_at, t.id
 LIMIT %(limit)s
"""

_PENDING_SQL = """
SELECT t.id, t.created_at FROM tasks t JOIN workflow_executions e ON e.id = t.workflow_execution_id
 WHERE t.status = 'pending' AND e.status = 'running' AND (t.created_at, t.id) > (%(after)s, %(after_id)s)
 ORDER BY t.created_at, t.id
 LIMIT %(limit)s
"""


def workflow_tasks_dispatch(
    *, agent: Agent | None = None, batch_size: int = DISPATCH_BATCH, now: datetime | None = None
) -> list[Task]:
    """Assigns waiting (`pending`) tasks of running executions by the assignment rule; returns those assigned.

    With `agent`: only the tasks it qualifies for (it is named, or it is online
    and has the capabilities), one batch; called when an agent appears (its
    heartbeat, or its enabling or change of capabilities). Without: every
    waiting task, in batches (`manage.py dispatch_workflow_tasks`). Each task
    is assigned in its own short transaction; an execution locked by someone
    else is skipped (that one is advancing it; the next pass retries).
    """
    now = now or timezone.now()
    if agent is not None:
        if agent.status != AgentStatus.ACTIVE:
            return []
        online = agent.last_seen_at is not None and agent.last_seen_at >= online_since(now)
        params = {
            "tenant_id": agent.tenant_id,
            "agent_id": str(agent.pk),
            "online": online,
            "capabilities": json.dumps(list(agent.capabilities or [])),
            "limit": batch_size,
        }
        rows = _rows(_PENDING_FOR_AGENT_SQL, params)
        return [task for task in (_dispatch_one(task_id, now=now) for task_id, _ in rows) if task is not None]
    assigned: list[Task] = []
    after, after_id = datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0)
    while True:
        rows = _rows(_PENDING_SQL, {"after": after, "after_id": after_id, "limit": batch_size})
        for task_id, created in rows:
            task = _dispatch_one(task_id, now=now)
            if task is not None:
                assigned.append(task)
            after, after_id = created, task_id
        if len(rows) < batch_size:
            return assigned


def _rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _dispatch_one(task_id: Any, *, now: datetime) -> Task | None:
    try:
        with transaction.atomic():
            task = Task.objects.filter(pk=task_id, status=TaskStatus.PENDING).first()
            if task is None or task.workflow_execution_id is None:
                return None
            if execution_status_if_free(task.workflow_execution_id) != ExecutionStatus.RUNNING:
                return None
            agent = agent_for(task)
            if agent is None:
                return None
            engine_change(
                task,
                TaskStatus.ASSIGNED,
                execution_id=task.workflow_execution_id,
                event="assign",
                reason=f"assigned to {agent.name} by the workflow engine",
                now=now,
                trigger=None,
                assigned_agent_id=agent.pk,
                assigned_at=now,
            )
            task.refresh_from_db()
            return task
    except Conflict:
        return None  # someone else changed the task meanwhile


# --- the engine -------------------------------------------------------------------------------------------------


def execution_lock_for_task(task: Task) -> None:
    """A `tasks.hooks` before-change hook: every writer of an execution's tasks takes the execution first, so the
    engine (which holds it and may cancel sibling tasks) never waits for a task row held by someone who waits
    for the execution."""
    if task.workflow_execution_id is not None:
        execution_lock(task.workflow_execution_id)


def agent_available(agent: Agent) -> None:
    """An `agents.hooks` hook: an agent coming online (or enabled, or given capabilities) picks up what waited."""
    workflow_tasks_dispatch(agent=agent)
