"""Reads of workflow executions: their steps as operators and callers see them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from mcpadmin.core.actor import Actor
from tasks.models import Task
from workflows.definition import compile_plan
from workflows.models import WorkflowExecution


def _instant(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def execution_task_ids(execution: WorkflowExecution) -> set[str]:
    """The ids of every task the execution has made so far (from its state)."""
    nodes = (execution.state or {}).get("nodes", {})
    return {slot["task_id"] for node in nodes.values() for slot in node.get("slots", []) if slot.get("task_id")}


def readable_task_ids(actor: Actor, executions: Sequence[WorkflowExecution]) -> set[str] | None:
    """The tasks of `executions` that `actor` may read (`Task.objects.visible_to`), in one query; None when it
    reads all of them by authority (operators, tenant keys), so that no query is made for them."""
    if actor.is_operator or actor.manages_tenant:
        return None
    ids = set().union(*(execution_task_ids(execution) for execution in executions))
    if not ids:
        return set()
    return {str(pk) for pk in Task.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True)}


def execution_data_readable(execution: WorkflowExecution, readable: set[str] | None) -> bool:
    """Whether the execution's output and error (made of its tasks' outputs) may be shown."""
    return readable is None or execution_task_ids(execution) <= readable


def execution_steps(execution: WorkflowExecution, *, readable: set[str] | None = None) -> list[dict[str, Any]]:
    """The per-step progress of an execution, in definition order, from its state (API and admin).

    With `readable` (see `readable_task_ids`), a task the caller may not read through `/tasks/{id}` shows
    only its status: no id, no error; a step shows its output and error only when the caller reads all of
    its tasks. Step names and statuses are always shown.
    """
    state = execution.state or {}
    if "definition" not in state:
        return []
    plan = compile_plan(state["workflow_type"], state["definition"])
    steps = []
    for node in plan.nodes:
        node_state = state["nodes"].get(node.id, {})
        slots = node_state.get("slots", [])
        shown = [readable is None or slot.get("task_id") in readable for slot in slots]
        whole = all(shown)
        steps.append(
            {
                "id": node.id,
                "kind": node.kind,
                "status": node_state.get("status", "waiting"),
                "started_at": _instant(node_state.get("started_at")),
                "finished_at": _instant(node_state.get("finished_at")),
                "output": node_state.get("output") if whole else None,
                "error": node_state.get("error") if whole else None,
                "tasks": [
                    {
                        "slot": index,
                        "task_id": slot.get("task_id") if shown[index] else None,
                        "status": slot["status"],
                        "item": slot.get("item"),
                        "error": slot.get("error") if shown[index] else None,
                    }
                    for index, slot in enumerate(slots)
                ],
            }
        )
    return steps
