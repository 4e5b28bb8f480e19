"""Which caller may write which field of an agent (`agents.policy.AGENT_FIELD_WRITERS`), cell by cell, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import Agent
from agents.policy import AGENT_FIELD_WRITERS
from agents.services import agent_update
from mcpadmin.core.errors import Forbidden
from tests import factories
from tests.api_cases import make_ctx
from tests.factories import OPERATOR
from tests.field_matrix import FieldCase, Reached, field_tests

VALUES = {
    "name": "renamed",
    "description": "a new description",
    "metadata": {"model": "x"},
    "capabilities": ["payments"],
    "teams": ["finance"],
    "status": "disabled",
}


def _reach(key_type: str) -> Reached:
    """An agent key reaches its own agent; every other key type an agent of its tenant."""
    ctx = make_ctx(key_type)
    api = ctx.api

    def write(field: str, value: Any) -> Any:
        return api.patch(f"/api/v1/agents/{ctx.agent.pk}", {field: value}, format="json")

    def stored(field: str) -> Any:
        return getattr(Agent.objects.get(pk=ctx.agent.pk), field)

    return Reached(write=write, stored=stored)


globals().update(field_tests(FieldCase("agent", AGENT_FIELD_WRITERS, "agents", VALUES, _reach)))


@pytest.mark.django_db
def test_an_agent_cannot_put_itself_in_a_team_and_read_its_workspaces() -> None:
    """Issue 13, finding 3: PATCH /agents/{itself} {"teams": [...]} was 200, then the team's workspaces opened."""
    ctx = make_ctx("agent")
    workspace = factories.workspace(ctx.tenant, visibility="team", team_tags=["finance"])
    response = ctx.api.patch(f"/api/v1/agents/{ctx.agent.pk}", {"teams": ["finance"]}, format="json")
    assert response.status_code == 403
    assert Agent.objects.get(pk=ctx.agent.pk).teams == []
    assert ctx.api.get(f"/api/v1/workspaces/{workspace.pk}").status_code == 404


@pytest.mark.django_db
def test_an_agent_cannot_give_itself_capabilities_nor_a_mixed_patch_half_applied() -> None:
    """Issue 13, finding 4; a PATCH with an allowed and a refused field changes nothing."""
    ctx = make_ctx("agent")
    response = ctx.api.patch(
        f"/api/v1/agents/{ctx.agent.pk}", {"description": "ok", "capabilities": ["payments"]}, format="json"
    )
    assert response.status_code == 403
    agent = Agent.objects.get(pk=ctx.agent.pk)
    assert (agent.description, agent.capabilities) == ("", [])


@pytest.mark.django_db
def test_operators_write_every_field() -> None:
    agent = factories.agent(factories.service_tenant())
    changed = agent_update(actor=OPERATOR, agent_id=agent.pk, **VALUES)
    assert {name: getattr(changed, name) for name in VALUES} == VALUES


def test_the_table_refuses_agents_what_widens_their_reach() -> None:
    from mcpadmin.core.actor import Actor
    from mcpadmin.core.fields import field_refusal

    agent_caller = Actor(source="api", tenant_id=1, key_type="agent", agent_id=1)
    refusal = field_refusal(AGENT_FIELD_WRITERS, agent_caller, ["teams", "capabilities", "status", "name"], what="x")
    assert isinstance(refusal, Forbidden)
    assert sorted(refusal.details) == ["capabilities", "status", "teams"]
