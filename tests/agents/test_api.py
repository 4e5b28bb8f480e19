"""The agents API: create, list (online filter), show, edit, heartbeat; an agent key acts only as itself."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from agents.models import Agent
from tests import factories
from tests.api_cases import error_of
from tests.tasks.helpers import agent_api, key_api

pytestmark = pytest.mark.django_db


def test_create_show_and_edit_an_agent(tenant, admin_api):
    response = admin_api.post(
        "/api/v1/agents",
        {"name": "coder", "capabilities": ["python", "sql"], "teams": ["core"], "metadata": {"model": "x"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["status"], body["online"], body["tenant_id"]) == (
        "coder",
        "active",
        False,
        str(tenant.id),
    )
    assert admin_api.get(f"/api/v1/agents/{body['id']}").json() == body
    response = admin_api.patch(
        f"/api/v1/agents/{body['id']}", {"status": "disabled", "description": "d"}, format="json"
    )
    assert (response.status_code, response.json()["status"], response.json()["description"]) == (200, "disabled", "d")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a", "capabilities": "python"}, "capabilities"),
        ({"name": "a", "capabilities": [1]}, "capabilities"),
        ({"name": "a", "teams": ["x" * 101]}, "teams"),
        ({"name": "a", "status": "sleeping"}, "status"),
        ({"name": "a", "metadata": []}, "metadata"),
        ({"name": "a", "last_seen_at": "2030-01-01T00:00:00Z"}, "last_seen_at"),
        ({"name": "a", "tenant_id": str(uuid.uuid4())}, "tenant_id"),
    ],
)
def test_bad_agent_input_is_a_400_naming_the_field(admin_api, payload, field):
    assert error_of(admin_api.post("/api/v1/agents", payload, format="json")) == (400, "invalid", [field])


def test_agent_names_are_unique_per_tenant(tenant, other_tenant, admin_api):
    factories.agent(other_tenant, name="twin")
    assert admin_api.post("/api/v1/agents", {"name": "twin"}, format="json").status_code == 201
    assert error_of(admin_api.post("/api/v1/agents", {"name": "twin"}, format="json")) == (
        409,
        "agent_exists",
        ["name"],
    )
    other = factories.agent(tenant, name="other")
    response = admin_api.patch(f"/api/v1/agents/{other.pk}", {"name": "twin"}, format="json")
    assert error_of(response) == (409, "agent_exists", ["name"])


def test_online_means_seen_within_the_window_and_lists_filter_on_it(tenant, admin_api):
    now = timezone.now()
    factories.agent(tenant, name="fresh", last_seen_at=now - timedelta(seconds=10))
    factories.agent(tenant, name="stale", last_seen_at=now - timedelta(seconds=120))
    factories.agent(tenant, name="never")

    def names(query: str) -> list[str]:
        return [agent["name"] for agent in admin_api.get(f"/api/v1/agents?{query}").json()["results"]]

    assert names("online=true") == ["fresh"]
    assert names("online=false") == ["never", "stale"]
    assert names("") == ["fresh", "never", "stale"]
    assert admin_api.get("/api/v1/agents?online=true").json()["results"][0]["online"] is True
    with override_settings(MCPADMIN_AGENT_ONLINE_WINDOW_SECONDS=300):
        assert names("online=true") == ["fresh", "stale"]
    with override_settings(MCPADMIN_AGENT_ONLINE_WINDOW_SECONDS=5):
        assert names("online=true") == []


def test_other_agent_filters(tenant, admin_api):
    factories.agent(tenant, name="a", capabilities=["sql"])
    factories.agent(tenant, name="b", status="disabled")
    assert [a["name"] for a in admin_api.get("/api/v1/agents?capability=sql").json()["results"]] == ["a"]
    assert [a["name"] for a in admin_api.get("/api/v1/agents?status=disabled").json()["results"]] == ["b"]
    assert [a["name"] for a in admin_api.get("/api/v1/agents?ordering=-name").json()["results"]] == ["b", "a"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("online=maybe", "online"), ("status=sleeping", "status"), ("ordering=secret", "ordering")],
)
def test_bad_agent_filters_are_a_400_naming_the_parameter(admin_api, query, field):
    assert error_of(admin_api.get(f"/api/v1/agents?{query}")) == (400, "invalid", [field])


def test_heartbeat_makes_an_agent_online(tenant, admin_api):
    agent = factories.agent(tenant)
    response = admin_api.post(f"/api/v1/agents/{agent.pk}/heartbeat")
    assert (response.status_code, response.json()["online"]) == (200, True)
    assert Agent.objects.get(pk=agent.pk).last_seen_at is not None


def test_an_agent_key_sees_edits_and_beats_only_for_itself(tenant):
    api, me = agent_api(tenant)
    other = factories.agent(tenant)
    assert [a["id"] for a in api.get("/api/v1/agents").json()["results"]] == [str(me.pk)]
    assert api.get(f"/api/v1/agents/{other.pk}").status_code == 404
    assert api.post(f"/api/v1/agents/{other.pk}/heartbeat").status_code == 404
    assert api.patch(f"/api/v1/agents/{other.pk}", {"name": "x"}, format="json").status_code == 404
    assert api.post(f"/api/v1/agents/{me.pk}/heartbeat").json()["online"] is True
    response = api.patch(f"/api/v1/agents/{me.pk}", {"description": "I write SQL"}, format="json")
    assert (response.status_code, response.json()["description"]) == (200, "I write SQL")
    for field, value in (("status", "disabled"), ("capabilities", ["sql"]), ("teams", ["finance"])):
        response = api.patch(f"/api/v1/agents/{me.pk}", {field: value}, format="json")
        assert error_of(response) == (403, "field_not_allowed", [field])
    assert error_of(api.post("/api/v1/agents", {"name": "clone"}, format="json"))[:2] == (403, "action_not_allowed")


def test_a_user_key_only_reads_agents(tenant):
    api, _ = key_api(tenant, "user")
    agent = factories.agent(tenant)
    assert api.get(f"/api/v1/agents/{agent.pk}").status_code == 200
    assert error_of(api.post(f"/api/v1/agents/{agent.pk}/heartbeat"))[:2] == (403, "service_not_allowed")
    assert api.patch(f"/api/v1/agents/{agent.pk}", {"name": "x"}, format="json").status_code == 403


def test_another_tenants_agent_is_404(admin_api, other_tenant):
    agent = factories.agent(other_tenant)
    assert admin_api.get(f"/api/v1/agents/{agent.pk}").status_code == 404
    assert admin_api.post(f"/api/v1/agents/{agent.pk}/heartbeat").status_code == 404
    assert admin_api.patch(f"/api/v1/agents/{agent.pk}", {"name": "x"}, format="json").status_code == 404
    assert admin_api.get("/api/v1/agents/not-a-uuid").status_code == 404
    assert Agent.objects.get(pk=agent.pk).last_seen_at is None
