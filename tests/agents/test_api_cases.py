"""Generic API cases of agents: see tests/api_cases.py."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every

TENANT_READERS = ("admin", "gateway", "service", "user")


def new_agent(ctx: Ctx, sample: Any) -> dict[str, Any]:
    return {"name": factories.unique("agent")}


def agents(ctx: Ctx, count: int) -> Any:
    return [factories.agent(ctx.tenant) for _ in range(count)][-1]


AGENTS = Case(
    name="agents",
    sample=lambda ctx: ctx.agent,  # an agent key's own agent
    calls=(
        # An agent key lists only its own agent: its list does not grow.
        Call("GET", "/api/v1/agents", every(200), max_queries=4, rows=agents, counted_for=TENANT_READERS),
        Call("POST", "/api/v1/agents", every(201, agent=403, user=403), body=new_agent),
        Call("GET", "/api/v1/agents/{pk}", every(200)),
        Call("PATCH", "/api/v1/agents/{pk}", every(200, user=403), body={"description": "changed"}),
        Call("POST", "/api/v1/agents/{pk}/heartbeat", every(200, user=403)),
    ),
)


OTHER_AGENT = Case(
    name="agents:another-agent",
    sample=lambda ctx: factories.agent(ctx.tenant),  # an agent key sees no other agent than its own
    calls=(
        Call("GET", "/api/v1/agents/{pk}", every(200, agent=404)),
        Call("PATCH", "/api/v1/agents/{pk}", every(200, agent=404, user=403), body={"description": "changed"}),
        Call("POST", "/api/v1/agents/{pk}/heartbeat", every(200, agent=404, user=403)),
    ),
)


globals().update(api_tests(AGENTS, OTHER_AGENT))
