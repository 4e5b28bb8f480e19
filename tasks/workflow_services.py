"""Workflows, their executions, and the engine that advances them: the one place that writes them.

A separate module from `tasks.services` (which it builds on, and which calls
back into it from `_on_status_changed`) because the engine is as large as
everything else of the app; the conventions are the same: functions
`<entity>_<verb>`, keyword-only, one transaction each.

Concurrency, in one paragraph: an execution's row is its lock. Everything
that changes an execution or the status of one of its tasks takes that row
first (`FOR NO KEY UPDATE`; `tasks.services._change_status` does it before
its compare-and-set), then reads the execution's state, changes it, and
writes it back in the same transaction. Two tasks finishing at once are thus
applied one after the other, each seeing the other's effect: a step whose
two dependencies finish together starts exactly once. The workflow's status
is read `FOR SHARE` by whatever starts steps, so a pause that has committed
stops every later start, and a start that read `active` commits before the
pause does. Lock order: executions (by id), then the workflow, then task
rows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from mcpadmin.api.errors import Conflict, DomainError, Forbidden, NotFound
from tasks.expressions import render_template
from tasks.models import (
    Agent,
    AgentStatus,
    ExecutionStatus,
    Task,
    TaskPriority,
    TaskStateTransition,
    TaskStatus,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionIdempotencyKey,
    WorkflowStatus,
    WorkflowType,
)
from tasks.selectors import agent_share_locked, online_since
from tasks.services import (
    MAX_NAME_LENGTH,
    UNSET,
    Actor,
    _change_status,
    _clean_text,
    _KeyTaken,
    claim_idempotency_key,
    idempotency_storage_key,
    insert_task,
    previous_creation,
    validate_idempotency_key,
)
from tasks.workflow_definition import (
    MAP_NODE,
    SCATTER_NODE,
    TASK_NODE,
    Node,
    Plan,
    compile_plan,
    validate_definition,
)
from tenants.models import Tenant

W = WorkflowStatus

#: The workflow status machine (README, "Workflows").
WORKFLOW_TRANSITIONS: dict[str, tuple[str, ...]] = {
    W.DRAFT: (W.ACTIVE, W.ARCHIVED),
    W.ACTIVE: (W.PAUSED, W.COMPLETED, W.FAILED, W.ARCHIVED),
    W.PAUSED: (W.ACTIVE, W.ARCHIVED),
    W.COMPLETED: (W.ARCHIVED,),
    W.FAILED: (W.ARCHIVED,),
    W.ARCHIVED: (),
}
#: A workflow in one of these no longer changes its definition, and its leftover executions are cancelled.
RETIRED_WORKFLOW_STATUSES = (W.COMPLETED, W.FAILED, W.ARCHIVED)

#: Per-step (and per-task "slot") states kept in `workflow_executions.state`.
WAITING, HELD, RUNNING = "waiting", "held", "running"
COMPLETED, FAILED, SKIPPED, CANCELLED = "completed", "failed", "skipped", "cancelled"
SETTLED = frozenset({COMPLETED, FAILED, SKIPPED, CANCELLED})
STEP_STATUSES = [WAITING, HELD, RUNNING, COMPLETED, FAILED, SKIPPED, CANCELLED]
#: Task statuses in which a task still holds work (what "open work" counts, and what cancelling closes).
OPEN_TASK_STATUSES = (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.DELEGATED)
ENGINE_METADATA = "workflow_engine"
ENGINE = Actor(source="workflow", operator="workflow engine")
DISPATCH_BATCH = 50
#: A map step's items are kept in the execution's state: their number is bounded.
MAX_MAP_ITEMS = 10_000


def _now_text(now: datetime) -> str:
    return now.isoformat()


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
    name = _clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    description = _clean_text(description, "description", 10_000, required=False)
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
        workflow.name = _clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    if description is not UNSET:
        workflow.description = _clean_text(description, "description", 10_000, required=False)
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
        run = _Run(execution, trigger=actor, now=now)
        if to_status == W.ARCHIVED:
            run.cancel(f"the workflow was archived: {reason}")
        elif to_status == W.ACTIVE:
            run.advance()
        run.save()
    workflow.refresh_from_db()
    return workflow


def _lock_running_executions(workflow_id: Any) -> list[WorkflowExecution]:
    return list(
        WorkflowExecution.objects.select_for_update(no_key=True)
        .filter(workflow_id=workflow_id, status=ExecutionStatus.RUNNING)
        .order_by("pk")
    )


# --- executions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionCreation:
    """A started execution, or the replay of the first response for the same Idempotency-Key."""

    execution_id: Any
    replayed: bool
    execution: WorkflowExecution | None = None
    response_status: int | None = None
    response_body: str | None = None


def execution_start(
    *,
    actor: Actor,
    workflow_id: Any,
    input_data: Any = None,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    render: Any = None,
) -> ExecutionCreation:
    """Starts a run of an `active` workflow with `input_data`: the execution row and the tasks of its first steps.

    Idempotent with `idempotency_key` exactly like `tasks.services.task_create`
    (same storage format, own table `workflow_execution_idempotency_keys`).
    """
    input_data = {} if input_data is None else input_data
    if not isinstance(input_data, dict):
        raise DomainError("invalid", "input must be an object.", {"input": ["must be an object"]})
    if idempotency_key is None:
        return _execution_insert(actor=actor, workflow_id=workflow_id, input_data=input_data, render=render)
    if actor.tenant_id is None:
        raise DomainError("invalid", "Idempotency keys belong to API callers.", {"Idempotency-Key": ["not here"]})
    stored_key = idempotency_storage_key(actor.tenant_id, validate_idempotency_key(idempotency_key))
    try:
        return _execution_insert(
            actor=actor,
            workflow_id=workflow_id,
            input_data=input_data,
            render=render,
            claim=(stored_key, request_fingerprint),
        )
    except (DomainError, _KeyTaken) as refusal:
        previous = previous_creation(
            model=WorkflowExecutionIdempotencyKey,
            stored_key=stored_key,
            fingerprint=request_fingerprint,
            refusal=refusal,
        )
        return ExecutionCreation(
            execution_id=previous.execution_id,
            replayed=True,
            response_status=previous.response_status,
            response_body=previous.response_body,
        )


@transaction.atomic
def _execution_insert(
    *, actor: Actor, workflow_id: Any, input_data: dict[str, Any], render: Any, claim: tuple[str, str] | None = None
) -> ExecutionCreation:
    try:
        workflow_pk = uuid.UUID(str(workflow_id))
    except ValueError as error:
        raise NotFound("No such workflow.") from error
    # FOR SHARE: a pause or archive waits until this execution has started (and then sees it).
    found = list(Workflow.objects.raw("SELECT * FROM workflows WHERE id = %s FOR SHARE", [workflow_pk]))
    workflow = found[0] if found else None
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
    run = _Run(execution, trigger=actor, now=now, plan=plan, workflow_status=workflow.status)
    run.start()
    run.save()
    execution.refresh_from_db()
    body = render(execution) if render is not None else None
    if claim is not None:
        stored_key, fingerprint = claim
        claim_idempotency_key(
            model=WorkflowExecutionIdempotencyKey,
            stored_key=stored_key,
            created_id=execution.pk,
            tenant_id=execution.tenant_id,
            fingerprint=fingerprint,
            body=body,
            now=now,
        )
    return ExecutionCreation(
        execution_id=execution.pk, replayed=False, execution=execution, response_status=201, response_body=body
    )


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
    execution = _visible_executions(actor).select_for_update(no_key=True).filter(pk=execution_id).first()
    if execution is None:
        raise NotFound("No such execution.")
    _forbid_unless_managing(actor, "cancel executions")
    if execution.status != ExecutionStatus.RUNNING:
        raise Conflict("execution_finished", f"The execution is {execution.status}.", {"status": execution.status})
    reason = _clean_text(reason or "", "reason", 10_000, required=False)
    run = _Run(execution, trigger=actor, now=timezone.now())
    run.cancel(reason or f"cancelled by {actor.operator or (actor.key_type or '') + ' key'}")
    run.save()
    execution.refresh_from_db()
    return execution


def _visible_executions(actor: Actor) -> Any:
    executions = WorkflowExecution.objects.all()
    return executions.filter(tenant_id=actor.tenant_id) if actor.tenant_id is not None else executions


def execution_on_task_changed(*, task: Task, transition: TaskStateTransition) -> None:
    """Called by `tasks.services._on_status_changed`, in the task's transaction, the execution already locked.

    A task that ends (completed; failed, after its automatic retries;
    cancelled by someone) settles its step's slot and advances the
    execution. The engine's own changes (cancelling, retrying, assigning)
    carry `metadata.workflow_engine` and are not fed back.
    """
    if (transition.metadata or {}).get(ENGINE_METADATA) or task.status not in (
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    ):
        return
    execution = WorkflowExecution.objects.select_for_update(no_key=True).get(pk=task.workflow_execution_id)
    if execution.status != ExecutionStatus.RUNNING:
        return
    trigger = (transition.metadata or {}).get("actor", {})
    run = _Run(execution, trigger=trigger, now=transition.created_at or timezone.now())
    run.on_task_settled(task)
    run.save()


# --- assignment -------------------------------------------------------------------------------------------------

_LEAST_LOADED_SQL = f"""
SELECT a.* FROM agents a
 WHERE a.tenant_id = %(tenant_id)s
   AND a.status = 'active'
   AND a.last_seen_at >= %(online_since)s
   AND a.capabilities @> %(capabilities)s::varchar[]
   AND NOT (a.id = ANY(%(exclude)s::uuid[]))
 ORDER BY (SELECT count(*) FROM tasks t
            WHERE t.tenant_id = a.tenant_id AND t.assigned_agent_id = a.id
              AND t.status IN ({", ".join(f"'{status}'" for status in OPEN_TASK_STATUSES)})),
          a.name, a.id
 LIMIT 1
   FOR SHARE OF a
"""


def choose_agent(
    *, tenant_id: Any, agent_id: Any = None, capabilities: list[str] | None = None, exclude: list[Any] | None = None
) -> Agent | None:
    """Who gets a workflow task: the named agent if it is active (online or not); otherwise the online active
    agent of the tenant with every capability (none asked: any) and the least open work (assigned, in
    progress, delegated), ties broken by name then id. None: nobody now, the task waits `pending`.

    The chosen agent is share-locked until the transaction ends, so it cannot be disabled meanwhile.
    """
    if agent_id is not None:
        agent = agent_share_locked(tenant_id, agent_id)
        return agent if agent is not None and agent.status == AgentStatus.ACTIVE else None
    params = {
        "tenant_id": tenant_id,
        "online_since": online_since(),
        "capabilities": list(capabilities or []),
        "exclude": [str(agent) for agent in exclude or []],
    }
    found = list(Agent.objects.raw(_LEAST_LOADED_SQL, params))
    return found[0] if found else None


def _requirements(task: Task) -> dict[str, Any]:
    return (task.metadata or {}).get("workflow", {})


def _distinct_exclusions(task: Task) -> list[Any]:
    """Agents that already hold (or held) a task of the same scatter step: each gets the task once."""
    requirements = _requirements(task)
    if not requirements.get("distinct"):
        return []
    return list(
        Task.objects.filter(
            workflow_execution_id=task.workflow_execution_id,
            workflow_step=task.workflow_step,
            metadata__workflow__iteration=requirements.get("iteration", 0),
            assigned_agent_id__isnull=False,
        )
        .exclude(pk=task.pk)
        .values_list("assigned_agent_id", flat=True)
    )


def _agent_for(task: Task) -> Agent | None:
    requirements = _requirements(task)
    return choose_agent(
        tenant_id=task.tenant_id,
        agent_id=requirements.get("agent_id"),
        capabilities=requirements.get("capabilities", []),
        exclude=_distinct_exclusions(task),
    )


def _engine_change(
    task: Task, to_status: str, *, execution_id: Any, event: str, reason: str, now: datetime, trigger: Any, **changes
) -> None:
    """A status change made by the engine: through the task service's one path, marked so it is not fed back."""
    condition = None
    if to_status == TaskStatus.PENDING and task.status == TaskStatus.FAILED:
        changes["retry_count"] = F("retry_count") + 1
        condition = Q(retry_count__lt=F("max_retries"))
    _change_status(
        task=task,
        to_status=to_status,
        actor=ENGINE,
        reason=reason,
        now=now,
        changes=changes,
        condition=condition,
        metadata={ENGINE_METADATA: {"execution_id": str(execution_id), "event": event}, "trigger": trigger},
    )


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
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT status FROM workflow_executions WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                    [task.workflow_execution_id],
                )
                row = cursor.fetchone()
            if row is None or row[0] != ExecutionStatus.RUNNING:
                return None
            agent = _agent_for(task)
            if agent is None:
                return None
            _engine_change(
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


class _Run:
    """One execution being advanced, under its row lock: its plan, its state (mutated here), and `save()`."""

    def __init__(
        self,
        execution: WorkflowExecution,
        *,
        trigger: Any,
        now: datetime,
        plan: Plan | None = None,
        workflow_status: str | None = None,
    ) -> None:
        self.execution = execution
        self.state = execution.state
        # The definition was validated when the execution started; it is a snapshot, compiled again here.
        self.plan = plan or compile_plan(self.state["workflow_type"], self.state["definition"])
        self.trigger = trigger.audit() if isinstance(trigger, Actor) else trigger
        self.now = now
        self._workflow_status = workflow_status

    # -- reading ----------------------------------------------------------------------------------------------

    @property
    def workflow_status(self) -> str:
        """Read once per run, FOR SHARE: a pause or archive commits before this reads it, or after this commits."""
        if self._workflow_status is None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT status FROM workflows WHERE id = %s FOR SHARE", [self.execution.workflow_id])
                self._workflow_status = cursor.fetchone()[0]
        return self._workflow_status

    @property
    def running(self) -> bool:
        return self.execution.status == ExecutionStatus.RUNNING

    def node_state(self, node_id: str) -> dict[str, Any]:
        return self.state["nodes"][node_id]

    def context(self, **extra: Any) -> dict[str, Any]:
        """What conditions and templates read: `$.input`, `$.steps.<id>.{output,status,error}`, `$.iteration`."""
        steps = {
            node_id: {"status": node["status"], "output": node.get("output"), "error": node.get("error")}
            for node_id, node in self.state["nodes"].items()
        }
        return {"input": self.execution.input_data, "steps": steps, "iteration": self.state["iteration"], **extra}

    def _finished_ok(self, node: Node) -> bool:
        status = self.node_state(node.id)["status"]
        return status in (COMPLETED, SKIPPED) or (status == FAILED and node.continue_on_error)

    # -- writing ----------------------------------------------------------------------------------------------

    def save(self) -> None:
        execution = self.execution
        WorkflowExecution.objects.filter(pk=execution.pk).update(
            state=self.state,
            status=execution.status,
            output_data=execution.output_data,
            error_message=execution.error_message,
            completed_at=execution.completed_at,
            updated_at=self.now,
        )

    def start(self) -> None:
        if self.plan.workflow_type == WorkflowType.LOOP:
            self._next_iteration()
        else:
            self.state["iteration"] = 1
        self.advance()

    def advance(self) -> None:
        """Starts every step that can start, until nothing changes; then finishes the execution if it is done."""
        if self.running and self.workflow_status in RETIRED_WORKFLOW_STATUSES:
            self.cancel(f"the workflow is {self.workflow_status}")
            return
        for _ in range(4 * len(self.plan.nodes) + 4):
            if not self.running:
                return
            iteration = self.state["iteration"]
            changed = self._start_ready_nodes()
            changed = self._fill_fan_outs() or changed
            if self._conclude():
                return
            if not changed and self.state["iteration"] == iteration:
                return

    def on_task_settled(self, task: Task) -> None:
        reference = self.state["tasks"].get(str(task.pk))
        if reference is None:
            return
        node_id, slot_index, iteration = reference
        node_state = self.node_state(node_id)
        if iteration != self.state["iteration"] or node_state["status"] != RUNNING:
            return  # a task of an earlier iteration, or of a step already decided
        slot = node_state["slots"][slot_index]
        if slot["status"] != RUNNING or slot.get("task_id") != str(task.pk):
            return
        if task.status == TaskStatus.COMPLETED:
            slot.update(status=COMPLETED, output=task.output_data, finished_at=_now_text(self.now))
        elif task.status == TaskStatus.FAILED and task.retry_count < task.max_retries:
            self._retry(task)
            return
        else:
            error = (task.error_message or "failed") if task.status == TaskStatus.FAILED else "the task was cancelled"
            slot.update(status=FAILED, error=error, finished_at=_now_text(self.now))
        self._after_slot(self.plan.node(node_id))
        self.advance()

    def cancel(self, reason: str) -> None:
        self._finish(ExecutionStatus.CANCELLED, error=reason)

    # -- steps ------------------------------------------------------------------------------------------------

    def _start_ready_nodes(self) -> bool:
        changed = False
        for node in self.plan.nodes:
            node_state = self.node_state(node.id)
            if node_state["status"] not in (WAITING, HELD):
                continue
            if not all(self._finished_ok(self.plan.node(dependency)) for dependency in node.depends_on):
                continue
            if self.workflow_status != W.ACTIVE:
                node_state["status"] = HELD
                continue
            if node.when is not None and not node.when.evaluate(self.context()):
                self._settle_node(node, SKIPPED)
            else:
                self._start_node(node)
            changed = True
        return changed

    def _start_node(self, node: Node) -> None:
        node_state = self.node_state(node.id)
        node_state.update(status=RUNNING, started_at=_now_text(self.now), output=None, error=None, finished_at=None)
        if node.kind == TASK_NODE:
            node_state["slots"] = [{"status": WAITING}]
            self._start_slot(node, 0)
        elif node.kind == MAP_NODE:
            items = node.items.resolve(self.context()) if node.items is not None else None
            if not isinstance(items, list) or not 0 < len(items) <= MAX_MAP_ITEMS:
                problem = f"{node.items.source} is not a non-empty list of at most {MAX_MAP_ITEMS} items"
                self._settle_node(node, FAILED, error=problem)
                return
            node_state["items"] = items
            node_state["slots"] = [{"status": WAITING, "item": index} for index in range(len(items))]
        elif node.kind == SCATTER_NODE:
            node_state["slots"] = [{"status": WAITING} for _ in range(node.count)]
            for index in range(node.count):
                self._start_slot(node, index)

    def _fill_fan_outs(self) -> bool:
        """Map steps: start waiting items while fewer than `concurrency` run (not while the workflow is paused)."""
        changed = False
        for node in self.plan.nodes:
            node_state = self.node_state(node.id)
            if node.kind != MAP_NODE or node_state["status"] != RUNNING or self.workflow_status != W.ACTIVE:
                continue
            slots = node_state["slots"]
            running = sum(slot["status"] == RUNNING for slot in slots)
            for index, slot in enumerate(slots):
                if running >= node.concurrency:
                    break
                if slot["status"] == WAITING:
                    self._start_slot(node, index)
                    running += 1
                    changed = True
        return changed

    def _start_slot(self, node: Node, index: int) -> None:
        node_state = self.node_state(node.id)
        extra: dict[str, Any] = {}
        if node.kind == MAP_NODE:
            extra = {"item": node_state["items"][index], "index": index}
        context = self.context(**extra)
        template = node.task
        requirements: dict[str, Any] = {"iteration": self.state["iteration"], "slot": index}
        if node.kind == SCATTER_NODE and node.agents:
            requirements["agent_id"] = node.agents[index]
        elif node.kind == SCATTER_NODE:
            requirements |= {"capabilities": list(node.capabilities), "distinct": True}
        elif "agent_id" in template:
            requirements["agent_id"] = template["agent_id"]
        else:
            requirements["capabilities"] = list(template.get("capabilities", []))
        rendered_input = render_template(template.get("input", {}), context)
        title = _text(render_template(template["title"], context))[:500].strip() or node.id
        values = {
            "tenant_id": self.execution.tenant_id,
            "title": title,
            "description": _text(render_template(template.get("description", ""), context))[:100_000],
            "priority": template.get("priority", TaskPriority.MEDIUM),
            "input_data": rendered_input if isinstance(rendered_input, dict) else {"value": rendered_input},
            "max_retries": template.get("max_retries", 0),
            "workflow_execution_id": self.execution.pk,
            "workflow_step": node.id,
            "metadata": {
                "workflow": {
                    "workflow_id": str(self.execution.workflow_id),
                    "execution_id": str(self.execution.pk),
                    "step": node.id,
                    **requirements,
                }
            },
        }
        agent = _agent_for(Task(**values))
        task = insert_task(
            values=values,
            agent=agent,
            actor=ENGINE,
            now=self.now,
            reason=f"created by workflow execution {self.execution.pk}, step {node.id}",
        )
        self.state["tasks"][str(task.pk)] = [node.id, index, self.state["iteration"]]
        node_state["slots"][index].update(
            status=RUNNING, task_id=str(task.pk), started_at=_now_text(self.now), output=None, error=None
        )

    def _retry(self, task: Task) -> None:
        """A failed task with retries left goes back to `pending` and is assigned again right away if possible."""
        _engine_change(
            task,
            TaskStatus.PENDING,
            execution_id=self.execution.pk,
            event="retry",
            reason=f"automatic retry {task.retry_count + 1} of {task.max_retries}",
            now=self.now,
            trigger=self.trigger,
            assigned_agent_id=None,
            assigned_at=None,
            started_at=None,
            completed_at=None,
        )
        task.refresh_from_db()
        agent = _agent_for(task)
        if agent is not None:
            _engine_change(
                task,
                TaskStatus.ASSIGNED,
                execution_id=self.execution.pk,
                event="assign",
                reason=f"assigned to {agent.name} by the workflow engine",
                now=self.now,
                trigger=self.trigger,
                assigned_agent_id=agent.pk,
                assigned_at=self.now,
            )

    def _after_slot(self, node: Node) -> None:
        """A slot of `node` settled: decide the step, if it is decided now."""
        node_state = self.node_state(node.id)
        slots = node_state["slots"]
        completed = [slot for slot in slots if slot["status"] == COMPLETED]
        failed = [slot for slot in slots if slot["status"] == FAILED]
        if node.kind == TASK_NODE:
            (slot,) = slots
            self._settle_node(node, slot["status"], output=slot.get("output"), error=slot.get("error"))
        elif node.kind == MAP_NODE:
            if failed and not node.continue_on_error:
                item = failed[0]["item"]
                self._settle_node(node, FAILED, error=f"item {item}: {failed[0].get('error')}")
            elif all(slot["status"] in SETTLED for slot in slots):
                self._settle_node(node, COMPLETED, output=[slot.pop("output", None) for slot in slots])
        else:
            needed = {"all": node.count, "first": 1}.get(node.gather, node.quorum)
            if len(completed) >= needed:
                outputs = [slot.get("output") for slot in completed[:needed]] if node.gather != "first" else None
                output = completed[0].get("output") if node.gather == "first" else outputs
                self._settle_node(node, COMPLETED, output=output)
            elif len(failed) > node.count - needed:
                self._settle_node(
                    node,
                    FAILED,
                    error=f"{len(completed)} of {node.count} succeeded, {len(failed)} failed; {needed} needed",
                )

    def _settle_node(self, node: Node, status: str, *, output: Any = None, error: str | None = None) -> None:
        node_state = self.node_state(node.id)
        node_state.update(status=status, output=output, error=error, finished_at=_now_text(self.now))
        if status == COMPLETED and self.plan.join == "any" and self.state.get("winner") is None:
            self.state["winner"] = node.id
        self._cancel_slots(node_state, f"step {node.id} is {status}")

    def _cancel_slots(self, node_state: dict[str, Any], reason: str) -> None:
        """Cancels the open tasks of a decided step (the rest of a map, of a scatter, of a cancelled step)."""
        for slot in node_state.get("slots", []):
            if slot["status"] == RUNNING:
                slot.update(status=CANCELLED, finished_at=_now_text(self.now))
                self._cancel_task(slot["task_id"], reason)
            elif slot["status"] == WAITING:
                slot["status"] = CANCELLED

    def _cancel_task(self, task_id: str, reason: str) -> None:
        task = Task.objects.filter(pk=task_id).first()
        if task is None or task.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED):
            return
        _engine_change(
            task,
            TaskStatus.CANCELLED,
            execution_id=self.execution.pk,
            event="cancel",
            reason=reason,
            now=self.now,
            trigger=self.trigger,
            completed_at=self.now,
        )

    # -- the end ----------------------------------------------------------------------------------------------

    def _conclude(self) -> bool:
        """Finishes the execution if its type's rule says it is done; True when it did."""
        nodes = self.plan.nodes
        statuses = [self.node_state(node.id)["status"] for node in nodes]
        all_settled = all(status in SETTLED for status in statuses)
        fatal = [node for node in nodes if self.node_state(node.id)["status"] == FAILED and not node.continue_on_error]
        if self.plan.workflow_type == WorkflowType.PARALLEL:
            if self.plan.join == "any":
                if self.state.get("winner"):
                    winner = self.state["winner"]
                    self._complete(self.node_state(winner).get("output"), winner=winner)
                    return True
                if all_settled:
                    self._fail("every step failed: " + "; ".join(self._errors(fatal or list(nodes))))
                    return True
                return False
            if self.plan.join == "fail_fast" and fatal:
                self._fail(self._errors(fatal)[0])
                return True
            if all_settled:
                if fatal:
                    self._fail("; ".join(self._errors(fatal)))
                else:
                    self._complete({node.id: self.node_state(node.id).get("output") for node in nodes})
                return True
            return False
        if fatal:
            self._fail(self._errors(fatal)[0])
            return True
        if not all_settled:
            return False
        if self.plan.workflow_type == WorkflowType.LOOP:
            return self._next_iteration()
        self._complete(self._result())
        return True

    def _result(self) -> Any:
        nodes = self.plan.nodes
        if self.plan.workflow_type in (WorkflowType.SEQUENTIAL, WorkflowType.MAP_REDUCE, WorkflowType.SCATTER_GATHER):
            return self.node_state(nodes[-1].id).get("output")
        return {node.id: self.node_state(node.id).get("output") for node in nodes}

    def _errors(self, nodes: list[Node]) -> list[str]:
        return [f"step {node.id} failed: {self.node_state(node.id).get('error')}" for node in nodes]

    def _next_iteration(self) -> bool:
        """Loops: checks `while` before each iteration; True when the execution finished instead."""
        plan, iteration = self.plan, self.state["iteration"]
        assert plan.loop_while is not None
        if not plan.loop_while.evaluate(self.context()):
            self._complete(self._result(), iterations=iteration)
            return True
        if iteration >= plan.max_iterations:
            message = f"the loop condition still holds after max_iterations ({plan.max_iterations})"
            if plan.on_max_iterations == "complete":
                self._complete(self._result(), iterations=iteration, stopped=message)
            else:
                self._fail(message)
            return True
        if self.workflow_status != W.ACTIVE:
            self.state["held_iteration"] = iteration + 1
            return False
        self.state.pop("held_iteration", None)
        self.state["iteration"] = iteration + 1
        # Tasks of earlier iterations are ignored when they end (no reference: nothing to advance); keep the
        # state's size bounded by one iteration.
        self.state["tasks"] = {}
        for node in plan.nodes:
            node_state = self.node_state(node.id)
            node_state.update(status=WAITING, slots=[], started_at=None, finished_at=None)
        return False

    def _complete(self, result: Any, **extra: Any) -> None:
        self._finish(ExecutionStatus.COMPLETED, output={"result": result, **extra})

    def _fail(self, error: str) -> None:
        self._finish(ExecutionStatus.FAILED, error=error)

    def _finish(self, status: str, *, output: Any = None, error: str | None = None) -> None:
        execution = self.execution
        execution.status = status
        execution.completed_at = self.now
        execution.error_message = error
        outputs = {
            node.id: self.node_state(node.id).get("output")
            for node in self.plan.nodes
            if self.node_state(node.id)["status"] == COMPLETED
        }
        execution.output_data = {**(output or {}), "steps": outputs}
        for node in self.plan.nodes:
            node_state = self.node_state(node.id)
            if node_state["status"] not in SETTLED:
                node_state.update(status=CANCELLED, finished_at=_now_text(self.now))
                self._cancel_slots(node_state, f"execution {status}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
