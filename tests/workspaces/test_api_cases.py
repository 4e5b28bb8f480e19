"""Generic API cases of workspaces and their members: see tests/api_cases.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every

#: Workspaces: tenant keys act with the tenant's authority, an agent key as its membership role (the samples make
#: the caller's agent their owner), user keys only read.
WRITERS = every(200, user=403)


def workspace(ctx: Ctx) -> Any:
    """A workspace every key of the tenant may read, owned by the caller's agent."""
    return factories.workspace(ctx.tenant, owner=ctx.agent, visibility="organization")


def workspace_with_members(ctx: Ctx, count: int) -> Any:
    found = workspace(ctx)
    for _ in range(count - 1):
        ctx.created(f"/api/v1/workspaces/{found.pk}/members", {"agent_id": str(factories.agent(ctx.tenant).pk)})
    return found


def workspace_and_member(ctx: Ctx) -> Any:
    """The workspace of `workspace` with a second member, a viewer: the one the member calls change."""
    found = workspace(ctx)
    member = factories.agent(ctx.tenant)
    ctx.created(f"/api/v1/workspaces/{found.pk}/members", {"agent_id": str(member.pk), "role": "viewer"})
    return SimpleNamespace(pk=found.pk, workspace=found, member=member)


def new_workspace(ctx: Ctx, sample: Any) -> dict[str, Any]:
    return {"name": factories.unique("workspace"), "owner_agent_id": str(ctx.agent.pk)}


def new_member(ctx: Ctx, sample: Any) -> dict[str, Any]:
    return {"agent_id": str(factories.agent(ctx.tenant).pk), "role": "viewer"}


WORKSPACES = Case(
    name="workspaces",
    sample=workspace,
    calls=(
        Call(
            "GET",
            "/api/v1/workspaces",
            every(200),
            # Agent keys: their agent (team tags) and their roles in the page's workspaces, one query each.
            max_queries=6,
        ),
        Call("POST", "/api/v1/workspaces", every(201, user=403), body=new_workspace),
        Call("GET", "/api/v1/workspaces/{pk}", every(200)),
        Call("PATCH", "/api/v1/workspaces/{pk}", WRITERS, body={"description": "changed"}),
        Call("DELETE", "/api/v1/workspaces/{pk}", every(204, user=403)),
        Call(
            "GET",
            "/api/v1/workspaces/{pk}/members",
            every(200),
            max_queries=6,
            rows=workspace_with_members,
            id_field="agent_id",
        ),
        Call("POST", "/api/v1/workspaces/{pk}/members", every(201, user=403), body=new_member),
    ),
)


WORKSPACE_MEMBERS = Case(
    name="workspace-members",
    sample=workspace_and_member,
    params=lambda sample: {"pk": sample.pk, "agent_id": sample.member.pk},
    calls=(
        Call("PATCH", "/api/v1/workspaces/{pk}/members/{agent_id}", WRITERS, body={"role": "contributor"}),
        Call("DELETE", "/api/v1/workspaces/{pk}/members/{agent_id}", every(204, user=403)),
        Call(
            "POST",
            "/api/v1/workspaces/{pk}/transfer",
            WRITERS,
            body=lambda ctx, sample: {"to_agent_id": str(sample.member.pk)},
        ),
    ),
)


globals().update(api_tests(WORKSPACES, WORKSPACE_MEMBERS))
