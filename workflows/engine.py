"""The engine that advances an execution: one `Run` per transaction, under the execution's row lock.

Concurrency, in one paragraph: an execution's row is its lock. Everything
that changes an execution or the status of one of its tasks takes that row
first (`workflows.locks`; the task services' before-change hook takes it before
their compare-and-set), then reads the execution's state, changes it, and
writes it back in the same transaction. Two tasks finishing at once are thus
applied one after the other, each seeing the other's effect: a step whose
two dependencies finish together starts exactly once. The workflow's status
is read FOR SHARE by whatever starts steps, so a pause that has committed
stops every later start, and a start that read `active` commits before the
pause does. Lock order: executions (by id), then the workflow, then task
rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F, Q

from agents.models import Agent, AgentStatus
from agents.selectors import agent_share_locked, online_since
from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.metrics import count_on_commit
from tasks.models import Task, TaskPriority, TaskStatus
from tasks.services import change_status, insert_task
from workflows.definition import MAP_NODE, SCATTER_NODE, TASK_NODE, Node, Plan, compile_plan
from workflows.expressions import render_template
from workflows.locks import workflow_status_shared
from workflows.models import (
    RETIRED_WORKFLOW_STATUSES,
    ExecutionStatus,
    WorkflowExecution,
    WorkflowStatus,
    WorkflowType,
)

W = WorkflowStatus

#: Per-step (and per-task "slot") states kept in `workflow_executions.state`.
WAITING, HELD, RUNNING = "waiting", "held", "running"
COMPLETED, FAILED, SKIPPED, CANCELLED = "completed", "failed", "skipped", "cancelled"
SETTLED = frozenset({COMPLETED, FAILED, SKIPPED, CANCELLED})


STEP_STATUSES = [WAITING, HELD, RUNNING, COMPLETED, FAILED, SKIPPED, CANCELLED]


#: Task statuses in which a task still holds work (what "open work" counts, and what cancelling closes).
OPEN_TASK_STATUSES = (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.DELEGATED)


ENGINE_METADATA = "workflow_engine"


ENGINE = Actor.for_engine()


#: A map step's items are kept in the execution's state: their number is bounded.
MAX_MAP_ITEMS = 10_000


def now_text(now: datetime) -> str:
    return now.isoformat()


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


def agent_for(task: Task) -> Agent | None:
    requirements = _requirements(task)
    return choose_agent(
        tenant_id=task.tenant_id,
        agent_id=requirements.get("agent_id"),
        capabilities=requirements.get("capabilities", []),
        exclude=_distinct_exclusions(task),
    )


def engine_change(
    task: Task, to_status: str, *, execution_id: Any, event: str, reason: str, now: datetime, trigger: Any, **changes
) -> None:
    """A status change made by the engine: through the task service's one path, marked so it is not fed back."""
    condition = None
    if to_status == TaskStatus.PENDING and task.status == TaskStatus.FAILED:
        changes["retry_count"] = F("retry_count") + 1
        condition = Q(retry_count__lt=F("max_retries"))
    change_status(
        task=task,
        to_status=to_status,
        actor=ENGINE,
        reason=reason,
        now=now,
        changes=changes,
        condition=condition,
        metadata={ENGINE_METADATA: {"execution_id": str(execution_id), "event": event}, "trigger": trigger},
    )


class Run:
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
            self._workflow_status = workflow_status_shared(self.execution.workflow_id)
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
            slot.update(status=COMPLETED, output=task.output_data, finished_at=now_text(self.now))
        elif task.status == TaskStatus.FAILED and task.retry_count < task.max_retries:
            self._retry(task)
            return
        else:
            error = (task.error_message or "failed") if task.status == TaskStatus.FAILED else "the task was cancelled"
            slot.update(status=FAILED, error=error, finished_at=now_text(self.now))
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
        node_state.update(status=RUNNING, started_at=now_text(self.now), output=None, error=None, finished_at=None)
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
        agent = agent_for(Task(**values))
        task = insert_task(
            values=values,
            agent=agent,
            actor=ENGINE,
            now=self.now,
            reason=f"created by workflow execution {self.execution.pk}, step {node.id}",
        )
        self.state["tasks"][str(task.pk)] = [node.id, index, self.state["iteration"]]
        node_state["slots"][index].update(
            status=RUNNING, task_id=str(task.pk), started_at=now_text(self.now), output=None, error=None
        )

    def _retry(self, task: Task) -> None:
        """A failed task with retries left goes back to `pending` and is assigned again right away if possible."""
        engine_change(
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
        agent = agent_for(task)
        if agent is not None:
            engine_change(
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
        node_state.update(status=status, output=output, error=error, finished_at=now_text(self.now))
        count_on_commit(metrics.WORKFLOW_STEPS, outcome=status)
        if status == COMPLETED and self.plan.join == "any" and self.state.get("winner") is None:
            self.state["winner"] = node.id
        self._cancel_slots(node_state, f"step {node.id} is {status}")

    def _cancel_slots(self, node_state: dict[str, Any], reason: str) -> None:
        """Cancels the open tasks of a decided step (the rest of a map, of a scatter, of a cancelled step)."""
        for slot in node_state.get("slots", []):
            if slot["status"] == RUNNING:
                slot.update(status=CANCELLED, finished_at=now_text(self.now))
                self._cancel_task(slot["task_id"], reason)
            elif slot["status"] == WAITING:
                slot["status"] = CANCELLED

    def _cancel_task(self, task_id: str, reason: str) -> None:
        task = Task.objects.filter(pk=task_id).first()
        if task is None or task.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED):
            return
        engine_change(
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
                node_state.update(status=CANCELLED, finished_at=now_text(self.now))
                self._cancel_slots(node_state, f"execution {status}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
