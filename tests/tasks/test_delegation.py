"""Delegation: handoff moves ownership, the other types share read access; the cap, final tasks, bad targets."""

from __future__ import annotations

import uuid

import pytest

from tasks.models import Task, TaskDelegationHistory, TaskStateTransition
from tests import factories
from tests.api_cases import error_of
from tests.tasks.helpers import agent_api, task_in

pytestmark = pytest.mark.django_db


def delegate(api, task, to_agent, delegation_type="consultation", **extra):
    payload = {"to_agent_id": str(to_agent.pk), "delegation_type": delegation_type, **extra}
    return api.post(f"/api/v1/tasks/{task.pk}/delegate", payload, format="json")


def test_a_handoff_moves_the_task_to_the_new_agent_who_takes_it(tenant):
    old_api, old_agent = agent_api(tenant)
    new_api, new_agent = agent_api(tenant)
    task = task_in(tenant, "in_progress", agent=old_agent)
    response = delegate(old_api, task, new_agent, "handoff", reason="out of my depth", metadata={"ticket": 7})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["task"]["status"], body["task"]["assigned_agent_id"]) == ("delegated", str(new_agent.pk))
    assert body["task"]["delegation_count"] == 1
    assert body["transition"]["to_status"] == "delegated"
    assert body["transition"]["metadata"]["delegation_id"] == body["delegation"]["id"]
    assert (body["delegation"]["from_agent_id"], body["delegation"]["to_agent_id"]) == (
        str(old_agent.pk),
        str(new_agent.pk),
    )
    assert body["delegation"]["metadata"]["ticket"] == 7
    assert body["delegation"]["metadata"]["actor"]["agent_id"] == str(old_agent.pk)
    assert old_api.get(f"/api/v1/tasks/{task.pk}").status_code == 404, "ownership moved"
    response = new_api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "assigned"}, format="json")
    assert (response.status_code, response.json()["task"]["status"]) == (200, "assigned")
    assert (
        new_api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "in_progress"}, format="json").status_code
        == 200
    )


@pytest.mark.parametrize("delegation_type", ["collaboration", "supervision", "consultation"])
def test_other_delegations_keep_the_assignee_and_let_the_target_read(tenant, delegation_type):
    owner_api, owner = agent_api(tenant)
    helper_api, helper = agent_api(tenant)
    task = task_in(tenant, "in_progress", agent=owner)
    assert helper_api.get(f"/api/v1/tasks/{task.pk}").status_code == 404
    body = delegate(owner_api, task, helper, delegation_type).json()
    assert (body["task"]["status"], body["task"]["assigned_agent_id"], body["transition"]) == (
        "in_progress",
        str(owner.pk),
        None,
    )
    assert helper_api.get(f"/api/v1/tasks/{task.pk}").status_code == 200
    assert helper_api.get(f"/api/v1/tasks/{task.pk}/history").status_code == 200
    assert [t["id"] for t in helper_api.get("/api/v1/tasks").json()["results"]] == [str(task.pk)]
    response = helper_api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "completed"}, format="json")
    assert error_of(response)[:2] == (403, "not_task_owner")
    assert error_of(delegate(helper_api, task, factories.agent(tenant)))[:2] == (403, "not_task_owner")
    assert TaskStateTransition.objects.filter(task=task).count() == 0


def test_each_delegation_counts_against_max_delegations(tenant, admin_api):
    task = task_in(tenant, "assigned", max_delegations=2)
    assert delegate(admin_api, task, factories.agent(tenant)).status_code == 200
    assert delegate(admin_api, task, factories.agent(tenant), "handoff").status_code == 200
    response = delegate(admin_api, task, factories.agent(tenant), "collaboration")
    assert error_of(response) == (409, "delegation_limit", ["delegation_count", "max_delegations"])
    assert response.json()["error"]["details"] == {"max_delegations": 2, "delegation_count": 2}
    assert TaskDelegationHistory.objects.filter(task=task).count() == 2


def test_no_limit_when_max_delegations_is_null(tenant, admin_api):
    task = task_in(tenant, "assigned", max_delegations=None)
    for _ in range(5):
        assert delegate(admin_api, task, factories.agent(tenant)).status_code == 200
    assert Task.objects.get(pk=task.pk).delegation_count == 5


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_final_tasks_are_not_delegated(tenant, admin_api, status):
    task = task_in(tenant, status)
    assert error_of(delegate(admin_api, task, factories.agent(tenant))) == (409, "task_final", ["status"])


def test_a_pending_task_can_be_shared_but_not_handed_off(tenant, admin_api):
    task = task_in(tenant, "pending")
    response = delegate(admin_api, task, factories.agent(tenant), "consultation")
    assert (response.status_code, response.json()["delegation"]["from_agent_id"]) == (200, None)
    assert error_of(delegate(admin_api, task, factories.agent(tenant), "handoff"))[:2] == (409, "illegal_transition")


def test_the_target_is_an_active_agent_of_the_tenant_other_than_the_assignee(tenant, other_tenant, admin_api):
    task = task_in(tenant, "assigned")
    assert error_of(delegate(admin_api, task, task.assigned_agent)) == (409, "delegate_is_assignee", ["to_agent_id"])
    assert error_of(delegate(admin_api, task, factories.agent(other_tenant))) == (400, "invalid", ["to_agent_id"])
    disabled = factories.agent(tenant, status="disabled")
    assert error_of(delegate(admin_api, task, disabled)) == (409, "agent_disabled", ["to_agent_id"])
    assert Task.objects.get(pk=task.pk).delegation_count == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"delegation_type": "handoff"}, "to_agent_id"),
        ({"to_agent_id": "bob", "delegation_type": "handoff"}, "to_agent_id"),
        ({"to_agent_id": str(uuid.uuid4())}, "delegation_type"),
        ({"to_agent_id": str(uuid.uuid4()), "delegation_type": "takeover"}, "delegation_type"),
        ({"to_agent_id": str(uuid.uuid4()), "delegation_type": "handoff", "metadata": "x"}, "metadata"),
        ({"to_agent_id": str(uuid.uuid4()), "delegation_type": "handoff", "reason": 1}, "reason"),
    ],
)
def test_bad_delegation_input_is_a_400_naming_the_field(tenant, admin_api, payload, field):
    task = task_in(tenant, "assigned")
    response = admin_api.post(f"/api/v1/tasks/{task.pk}/delegate", payload, format="json")
    assert error_of(response) == (400, "invalid", [field])
