"""Reads of workflow executions: their steps as operators and callers see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from workflows.definition import compile_plan
from workflows.models import WorkflowExecution


def _instant(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def execution_steps(execution: WorkflowExecution) -> list[dict[str, Any]]:
    """The per-step progress of an execution, in definition order, from its state (API and admin)."""
    state = execution.state or {}
    if "definition" not in state:
        return []
    plan = compile_plan(state["workflow_type"], state["definition"])
    steps = []
    for node in plan.nodes:
        node_state = state["nodes"].get(node.id, {})
        slots = node_state.get("slots", [])
        steps.append(
            {
                "id": node.id,
                "kind": node.kind,
                "status": node_state.get("status", "waiting"),
                "started_at": _instant(node_state.get("started_at")),
                "finished_at": _instant(node_state.get("finished_at")),
                "output": node_state.get("output"),
                "error": node_state.get("error"),
                "tasks": [
                    {
                        "slot": index,
                        "task_id": slot.get("task_id"),
                        "status": slot["status"],
                        "item": slot.get("item"),
                        "error": slot.get("error"),
                    }
                    for index, slot in enumerate(slots)
                ],
            }
        )
    return steps
