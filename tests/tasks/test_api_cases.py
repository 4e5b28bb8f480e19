"""Generic API cases of agents, tasks, workspace tasks, workflows and their executions: see tests/api_cases.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every

#: The tenant's authority (admin, gateway, service keys) does everything; the samples give an agent key its own
#: agent or a task assigned to it; user keys read, create tasks and cancel their own.
TENANT_KEYS_WRITE = every(200, agent=403, user=403)


def assigned_task(ctx: Ctx) -> Any:
    """A task assigned to the caller's agent (an agent key works the tasks assigned to it)."""
    return factories.task(ctx.tenant, status="assigned", assigned_agent=ctx.agent)


def task_with_history(ctx: Ctx, count: int) -> Any:
    """A task assigned to the caller's agent with `count` history events (creation, assignment, collaborations)."""
    task = ctx.created("/api/v1/tasks", {"title": "with history", "max_delegations": None})
    response = ctx.admin.post(
        f"/api/v1/tasks/{task['id']}/transition",
        {"to_status": "assigned", "agent_id": str(ctx.agent.pk)},
        format="json",
    )
    assert response.status_code == 200, response.json()
    for _ in range(count - 2):
        to_agent = factories.agent(ctx.tenant)
        body = {"to_agent_id": str(to_agent.pk), "delegation_type": "collaboration"}
        response = ctx.admin.post(f"/api/v1/tasks/{task['id']}/delegate", body, format="json")
        assert response.status_code == 200, response.json()
    return SimpleNamespace(pk=task["id"])


def collaboration(ctx: Ctx, sample: Any) -> dict[str, Any]:
    return {"to_agent_id": str(factories.agent(ctx.tenant).pk), "delegation_type": "collaboration"}


TASKS = Case(
    name="tasks",
    sample=assigned_task,
    calls=(
        Call("GET", "/api/v1/tasks", every(200), max_queries=5),
        Call("POST", "/api/v1/tasks", every(201, agent=403), body={"title": "new task"}),
        Call("GET", "/api/v1/tasks/{pk}", every(200)),
        Call("PATCH", "/api/v1/tasks/{pk}", TENANT_KEYS_WRITE, body={"description": "changed"}),
        Call("POST", "/api/v1/tasks/{pk}/transition", every(200, user=403), body={"to_status": "in_progress"}),
        Call("POST", "/api/v1/tasks/{pk}/delegate", every(200, user=403), body=collaboration),
        Call("GET", "/api/v1/tasks/{pk}/history", every(200), max_queries=6, rows=task_with_history),
    ),
)

#: Cancelling: user keys cancel the tasks they created; agent keys do not cancel.
OWN_TASK = Case(
    name="tasks:created-by-the-caller",
    sample=lambda ctx: factories.task(ctx.tenant, status="assigned", assigned_agent=ctx.agent, created_by_key=ctx.key),
    calls=(Call("POST", "/api/v1/tasks/{pk}/transition", every(200, agent=403), body={"to_status": "cancelled"}),),
)


def workspace_with_tasks(ctx: Ctx, count: int = 1) -> Any:
    workspace = factories.workspace(ctx.tenant, owner=ctx.agent, visibility="organization")
    for _ in range(count):
        factories.task(ctx.tenant, workspace=workspace)
    return workspace


WORKSPACE_TASKS = Case(
    name="workspace-tasks",
    sample=workspace_with_tasks,
    calls=(Call("GET", "/api/v1/workspaces/{pk}/tasks", every(200), max_queries=6, rows=workspace_with_tasks),),
)


globals().update(api_tests(TASKS, OWN_TASK, WORKSPACE_TASKS))
