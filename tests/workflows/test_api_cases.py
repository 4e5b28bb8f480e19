"""Generic API cases of workflows and their executions: see tests/api_cases.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every

SEQUENTIAL = {"steps": [{"id": "one", "task": {"title": "one"}}]}


def workflow(ctx: Ctx, *, active: bool = False) -> Any:
    found = ctx.created(
        "/api/v1/workflows",
        {"name": factories.unique("flow"), "workflow_type": "sequential", "definition": SEQUENTIAL},
    )
    if active:
        response = ctx.admin.post(f"/api/v1/workflows/{found['id']}/transition", {"to_status": "active"}, format="json")
        assert response.status_code == 200, response.json()
    return SimpleNamespace(pk=found["id"])


def new_workflow(ctx: Ctx, sample: Any) -> dict[str, Any]:
    return {"name": factories.unique("flow"), "workflow_type": "sequential", "definition": SEQUENTIAL}


def workflow_with_executions(ctx: Ctx, count: int) -> Any:
    found = workflow(ctx, active=True)
    for _ in range(count):
        ctx.created(f"/api/v1/workflows/{found.pk}/executions", {"input": {}})
    return found


WORKFLOW_READERS_ONLY = every(200, agent=403, user=403)


WORKFLOWS = Case(
    name="workflows",
    sample=workflow,
    calls=(
        Call("GET", "/api/v1/workflows", every(200), max_queries=4),
        Call("POST", "/api/v1/workflows", every(201, agent=403, user=403), body=new_workflow),
        Call("GET", "/api/v1/workflows/schema", every(200)),
        Call("GET", "/api/v1/workflows/{pk}", every(200)),
        Call("PATCH", "/api/v1/workflows/{pk}", WORKFLOW_READERS_ONLY, body={"description": "changed"}),
        Call("POST", "/api/v1/workflows/{pk}/transition", WORKFLOW_READERS_ONLY, body={"to_status": "active"}),
    ),
)


ACTIVE_WORKFLOW = Case(
    name="workflows:active",
    sample=lambda ctx: workflow(ctx, active=True),
    calls=(
        Call("GET", "/api/v1/workflows/{pk}/executions", every(200), max_queries=5, rows=workflow_with_executions),
        Call("POST", "/api/v1/workflows/{pk}/executions", every(201, agent=403, user=403), body={"input": {}}),
    ),
)


def execution(ctx: Ctx) -> Any:
    found = workflow(ctx, active=True)
    return SimpleNamespace(pk=ctx.created(f"/api/v1/workflows/{found.pk}/executions", {"input": {}})["id"])


EXECUTIONS = Case(
    name="workflow-executions",
    sample=execution,
    calls=(
        # Agent and user keys: one more query for the tasks they may read, and the agent behind an agent key.
        Call("GET", "/api/v1/workflow-executions", every(200), max_queries=6),
        Call("GET", "/api/v1/workflow-executions/{pk}", every(200)),
        Call("POST", "/api/v1/workflow-executions/{pk}/cancel", WORKFLOW_READERS_ONLY, body={}),
    ),
)


globals().update(api_tests(WORKFLOWS, ACTIVE_WORKFLOW, EXECUTIONS))
