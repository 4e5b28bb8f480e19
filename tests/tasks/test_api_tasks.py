"""The tasks API: create, list (filters, ordering, pagination), show, edit, transition, history; who may do what."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tasks.models import Task, TaskStateTransition
from tests import factories
from tests.api_cases import error_of
from tests.tasks.helpers import agent_api, key_api, task_in

pytestmark = pytest.mark.django_db


def test_create_a_task_and_read_it_back(tenant, admin_api, admin_key):
    workspace = factories.workspace(tenant)
    parent = factories.task(tenant)
    response = admin_api.post(
        "/api/v1/tasks",
        {
            "title": "Summarise the report",
            "description": "in three lines",
            "priority": "high",
            "parent_task_id": str(parent.pk),
            "workspace_id": str(workspace.pk),
            "input_data": {"doc": 7},
            "metadata": {"source": "test"},
            "max_retries": 1,
            "max_delegations": None,
            "deadline": "2031-01-01T00:00:00Z",
            "auto_escalate": True,
            "escalation_timeout_seconds": 600,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == f"/api/v1/tasks/{body['id']}"
    assert "Idempotent-Replayed" not in response
    assert body["status"] == "pending"
    assert body["allowed_transitions"] == ["assigned", "cancelled"]
    assert (body["priority"], body["max_delegations"], body["escalation_timeout_seconds"]) == ("high", None, 600)
    assert (body["parent_task_id"], body["workspace_id"]) == (str(parent.pk), str(workspace.pk))
    assert body["created_by_key_id"] == str(admin_key.key.id)
    assert admin_api.get(f"/api/v1/tasks/{body['id']}").json() == body
    assert TaskStateTransition.objects.filter(task_id=body["id"]).count() == 1


def test_a_task_created_with_an_agent_is_assigned(tenant, admin_api):
    agent = factories.agent(tenant)
    body = admin_api.post("/api/v1/tasks", {"title": "t", "assigned_agent_id": str(agent.pk)}, format="json").json()
    assert (body["status"], body["assigned_agent_id"]) == ("assigned", str(agent.pk))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": 123}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"title": "t", "priority": "urgent"}, "priority"),
        ({"title": "t", "max_retries": "3"}, "max_retries"),
        ({"title": "t", "max_retries": -1}, "max_retries"),
        ({"title": "t", "max_delegations": 2.5}, "max_delegations"),
        ({"title": "t", "auto_escalate": "yes"}, "auto_escalate"),
        ({"title": "t", "auto_escalate": True}, "escalation_timeout"),
        ({"title": "t", "escalation_timeout_seconds": 0}, "escalation_timeout_seconds"),
        ({"title": "t", "input_data": [1]}, "input_data"),
        ({"title": "t", "deadline": "tomorrow"}, "deadline"),
        ({"title": "t", "assigned_agent_id": "agent-7"}, "assigned_agent_id"),
        ({"title": "t", "assigned_agent_id": str(uuid.uuid4())}, "assigned_agent_id"),
        ({"title": "t", "parent_task_id": str(uuid.uuid4())}, "parent_task_id"),
        ({"title": "t", "workspace_id": str(uuid.uuid4())}, "workspace_id"),
        ({"title": "t", "tenant": "x"}, "tenant"),
        ({"title": "t", "status": "completed"}, "status"),
    ],
)
def test_bad_input_to_create_is_a_400_naming_the_field(admin_api, payload, field):
    response = admin_api.post("/api/v1/tasks", payload, format="json")
    assert error_of(response) == (400, "invalid", [field])
    assert Task.objects.count() == 0


def test_a_body_that_is_not_an_object_or_not_json_is_a_400(admin_api):
    assert admin_api.post("/api/v1/tasks", [1, 2], format="json").status_code == 400
    response = admin_api.post("/api/v1/tasks", "{not json", content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "parse_error")


def test_references_of_another_tenant_are_refused(admin_api, other_tenant):
    foreign_agent = factories.agent(other_tenant)
    foreign_task = factories.task(other_tenant)
    for field, value in (("assigned_agent_id", foreign_agent.pk), ("parent_task_id", foreign_task.pk)):
        assert error_of(admin_api.post("/api/v1/tasks", {"title": "t", field: str(value)}, format="json")) == (
            400,
            "invalid",
            [field],
        )


def test_a_disabled_agent_gets_no_new_task(tenant, admin_api):
    agent = factories.agent(tenant, status="disabled")
    response = admin_api.post("/api/v1/tasks", {"title": "t", "assigned_agent_id": str(agent.pk)}, format="json")
    assert error_of(response) == (409, "agent_disabled", ["assigned_agent_id"])
    task = task_in(tenant, "pending")
    response = admin_api.post(
        f"/api/v1/tasks/{task.pk}/transition", {"to_status": "assigned", "agent_id": str(agent.pk)}, format="json"
    )
    assert error_of(response) == (409, "agent_disabled", ["agent_id"])


# --- list -------------------------------------------------------------------------------------------------------


def test_list_filters_orders_and_paginates(tenant, other_tenant, admin_api):
    agent = factories.agent(tenant)
    parent = factories.task(tenant, title="parent", priority="low")
    child = factories.task(tenant, title="child", parent_task=parent, priority="critical")
    working = task_in(tenant, "in_progress", agent=agent, title="working", priority="high")
    old = factories.task(tenant, title="old", created_at=timezone.now() - timedelta(days=3))
    factories.task(other_tenant, title="foreign")

    def titles(query: str) -> list[str]:
        response = admin_api.get(f"/api/v1/tasks?{query}")
        assert response.status_code == 200, response.json()
        return [task["title"] for task in response.json()["results"]]

    assert sorted(titles("")) == sorted(["parent", "child", "working", "old"])
    assert titles("status=in_progress") == ["working"]
    assert sorted(titles("status=in_progress&status=pending")) == sorted(["parent", "child", "working", "old"])
    assert titles("priority=critical") == ["child"]
    assert titles(f"assigned_agent_id={agent.pk}") == ["working"]
    assert titles(f"parent_task_id={parent.pk}") == ["child"]
    assert titles("created_before=" + (timezone.now() - timedelta(days=1)).isoformat().replace("+", "%2B")) == ["old"]
    assert "old" not in titles("created_after=" + (timezone.now() - timedelta(days=1)).isoformat().replace("+", "%2B"))
    assert titles("ordering=-priority")[:2] == ["child", "working"]
    assert titles("ordering=priority")[0] in ("parent",)
    page = admin_api.get("/api/v1/tasks?limit=2&offset=1&ordering=title").json()
    assert (page["count"], [t["title"] for t in page["results"]]) == (4, ["old", "parent"])
    assert {working.pk, old.pk, child.pk, parent.pk} == {Task.objects.get(title=t).pk for t in titles("")}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=finished", "status"),
        ("priority=urgent", "priority"),
        ("assigned_agent_id=agent-7", "assigned_agent_id"),
        ("parent_task_id=123", "parent_task_id"),
        ("created_after=yesterday", "created_after"),
        ("ordering=secret", "ordering"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(admin_api, query, field):
    assert error_of(admin_api.get(f"/api/v1/tasks?{query}")) == (400, "invalid", [field])


def test_the_list_costs_the_same_number_of_queries_for_one_task_or_many(
    tenant, admin_api, django_assert_max_num_queries
):
    for _ in range(20):
        factories.task(tenant, assigned_agent=factories.agent(tenant), status="assigned")
    with django_assert_max_num_queries(6):
        assert len(admin_api.get("/api/v1/tasks").json()["results"]) == 20


# --- tenants, ids -------------------------------------------------------------------------------------------------


def test_another_tenants_task_is_404_everywhere(admin_api, other_tenant):
    task = task_in(other_tenant, "assigned")
    agent = factories.agent(other_tenant)
    base = f"/api/v1/tasks/{task.pk}"
    assert admin_api.get(base).status_code == 404
    assert admin_api.get(f"{base}/history").status_code == 404
    assert admin_api.patch(base, {"title": "mine"}, format="json").status_code == 404
    assert admin_api.post(f"{base}/transition", {"to_status": "cancelled"}, format="json").status_code == 404
    response = admin_api.post(
        f"{base}/delegate", {"to_agent_id": str(agent.pk), "delegation_type": "consultation"}, format="json"
    )
    assert response.status_code == 404
    assert Task.objects.get(pk=task.pk).status == "assigned"


def test_malformed_and_unknown_ids_are_404(admin_api):
    for path in ("/api/v1/tasks/not-a-uuid", f"/api/v1/tasks/{uuid.uuid4()}", "/api/v1/tasks/123/history"):
        response = admin_api.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


# --- edit -------------------------------------------------------------------------------------------------------


def test_patch_changes_only_the_editable_fields_while_not_final(tenant, admin_api):
    task = task_in(tenant, "in_progress")
    response = admin_api.patch(
        f"/api/v1/tasks/{task.pk}",
        {"title": "new", "priority": "critical", "auto_escalate": True, "escalation_timeout_seconds": 60},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["title"], response.json()["priority"], response.json()["escalation_timeout_seconds"]) == (
        "new",
        "critical",
        60,
    )
    for field, value in (("status", "completed"), ("assigned_agent_id", None), ("retry_count", 0)):
        assert error_of(admin_api.patch(f"/api/v1/tasks/{task.pk}", {field: value}, format="json")) == (
            400,
            "invalid",
            [field],
        )
    done = task_in(tenant, "completed")
    response = admin_api.patch(f"/api/v1/tasks/{done.pk}", {"title": "late"}, format="json")
    assert error_of(response) == (409, "task_final", ["status"])
    assert Task.objects.get(pk=done.pk).title != "late"


def test_patch_keeps_escalation_consistent(tenant, admin_api):
    task = task_in(tenant, "pending")
    response = admin_api.patch(f"/api/v1/tasks/{task.pk}", {"auto_escalate": True}, format="json")
    assert error_of(response) == (400, "invalid", ["escalation_timeout"])


# --- transitions over HTTP ------------------------------------------------------------------------------------------


def test_transition_endpoint_moves_the_task_and_answers_409_with_the_allowed_targets(tenant, admin_api):
    task = task_in(tenant, "assigned")
    response = admin_api.post(
        f"/api/v1/tasks/{task.pk}/transition", {"to_status": "in_progress", "reason": "go"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["task"]["status"], body["transition"]["from_status"], body["transition"]["to_status"]) == (
        "in_progress",
        "assigned",
        "in_progress",
    )
    response = admin_api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "pending"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert response.json()["error"]["details"]["allowed"] == ["completed", "failed", "delegated", "cancelled"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "to_status"),
        ({"to_status": "finished"}, "to_status"),
        ({"to_status": 3}, "to_status"),
        ({"to_status": "cancelled", "reason": ["x"]}, "reason"),
        ({"to_status": "failed", "error_message": 5}, "error_message"),
        ({"to_status": "cancelled", "output_data": {"x": 1}}, "output_data"),
        ({"to_status": "assigned", "agent_id": "a"}, "agent_id"),
        ({"to_status": "cancelled", "by": "me"}, "by"),
    ],
)
def test_bad_transition_input_is_a_400_naming_the_field(tenant, admin_api, payload, field):
    task = task_in(tenant, "in_progress")
    response = admin_api.post(f"/api/v1/tasks/{task.pk}/transition", payload, format="json")
    assert error_of(response) == (400, "invalid", [field])


def test_history_lists_transitions_and_delegations_in_time_order(tenant, admin_api):
    first, second = factories.agent(tenant), factories.agent(tenant)
    task_id = admin_api.post("/api/v1/tasks", {"title": "t"}, format="json").json()["id"]
    steps = [
        ("transition", {"to_status": "assigned", "agent_id": str(first.pk)}),
        ("transition", {"to_status": "in_progress"}),
        ("delegate", {"to_agent_id": str(second.pk), "delegation_type": "consultation", "reason": "ask"}),
        ("delegate", {"to_agent_id": str(second.pk), "delegation_type": "handoff"}),
        ("transition", {"to_status": "in_progress"}),
    ]
    for endpoint, payload in steps:
        assert admin_api.post(f"/api/v1/tasks/{task_id}/{endpoint}", payload, format="json").status_code == 200
    events = admin_api.get(f"/api/v1/tasks/{task_id}/history").json()
    assert [(e["type"], e.get("to_status") or e.get("delegation_type")) for e in events] == [
        ("transition", "pending"),
        ("transition", "assigned"),
        ("transition", "in_progress"),
        ("delegation", "consultation"),
        ("transition", "delegated"),
        ("delegation", "handoff"),
        ("transition", "in_progress"),
    ]
    assert events[3]["reason"] == "ask"
    assert events[5]["from_agent_id"] == str(first.pk)


# --- who may do what ----------------------------------------------------------------------------------------------


def test_an_agent_key_sees_and_works_only_its_tasks(tenant):
    api, agent = agent_api(tenant)
    mine = task_in(tenant, "assigned", agent=agent)
    other = task_in(tenant, "assigned")
    assert [t["id"] for t in api.get("/api/v1/tasks").json()["results"]] == [str(mine.pk)]
    assert api.get(f"/api/v1/tasks/{other.pk}").status_code == 404
    assert (
        api.post(f"/api/v1/tasks/{other.pk}/transition", {"to_status": "in_progress"}, format="json").status_code == 404
    )
    for to_status in ("in_progress", "completed"):
        response = api.post(f"/api/v1/tasks/{mine.pk}/transition", {"to_status": to_status}, format="json")
        assert response.status_code == 200, response.json()
    assert response.json()["transition"]["transitioned_by"] == str(agent.pk)


def test_an_agent_may_not_cancel_edit_or_create_tasks(tenant):
    api, agent = agent_api(tenant)
    mine = task_in(tenant, "in_progress", agent=agent)
    response = api.post(f"/api/v1/tasks/{mine.pk}/transition", {"to_status": "cancelled"}, format="json")
    assert error_of(response) == (403, "action_not_allowed", ["to_status"])
    assert error_of(api.patch(f"/api/v1/tasks/{mine.pk}", {"title": "x"}, format="json"))[:2] == (
        403,
        "action_not_allowed",
    )
    assert api.post("/api/v1/tasks", {"title": "x"}, format="json").status_code == 403


def test_an_agent_releases_fails_and_retries_its_task(tenant):
    api, agent = agent_api(tenant)
    task = task_in(tenant, "assigned", agent=agent)
    assert api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "pending"}, format="json").status_code == 200
    assert api.get(f"/api/v1/tasks/{task.pk}").status_code == 404, "released: not its task any more"
    failed = task_in(tenant, "in_progress", agent=agent)
    response = api.post(
        f"/api/v1/tasks/{failed.pk}/transition", {"to_status": "failed", "error_message": "timeout"}, format="json"
    )
    assert response.json()["task"]["error_message"] == "timeout"
    response = api.post(f"/api/v1/tasks/{failed.pk}/transition", {"to_status": "pending"}, format="json")
    assert response.json()["task"]["retry_count"] == 1


def test_a_user_key_reads_creates_and_cancels_only_its_own_tasks(tenant):
    api, key = key_api(tenant, "user")
    theirs = task_in(tenant, "pending")
    mine_id = api.post("/api/v1/tasks", {"title": "mine"}, format="json").json()["id"]
    assert Task.objects.get(pk=mine_id).created_by_key_id == key.id
    assert {t["id"] for t in api.get("/api/v1/tasks").json()["results"]} == {mine_id, str(theirs.pk)}
    response = api.post(f"/api/v1/tasks/{theirs.pk}/transition", {"to_status": "cancelled"}, format="json")
    assert error_of(response)[:2] == (403, "action_not_allowed")
    agent = factories.agent(tenant)
    response = api.post(
        f"/api/v1/tasks/{mine_id}/transition", {"to_status": "assigned", "agent_id": str(agent.pk)}, format="json"
    )
    assert error_of(response)[:2] == (403, "action_not_allowed")
    assert api.patch(f"/api/v1/tasks/{mine_id}", {"title": "x"}, format="json").status_code == 403
    response = api.post(
        f"/api/v1/tasks/{mine_id}/delegate",
        {"to_agent_id": str(agent.pk), "delegation_type": "consultation"},
        format="json",
    )
    assert response.status_code == 403
    response = api.post(f"/api/v1/tasks/{mine_id}/transition", {"to_status": "cancelled"}, format="json")
    assert (response.status_code, response.json()["task"]["status"]) == (200, "cancelled")


@pytest.mark.parametrize("key_type", ["admin", "service", "gateway"])
def test_admin_service_and_gateway_keys_do_anything_within_the_tenant(tenant, key_type):
    api, _ = key_api(tenant, key_type)
    agent = factories.agent(tenant)
    task_id = api.post("/api/v1/tasks", {"title": "t"}, format="json").json()["id"]
    for payload in ({"to_status": "assigned", "agent_id": str(agent.pk)}, {"to_status": "cancelled"}):
        assert api.post(f"/api/v1/tasks/{task_id}/transition", payload, format="json").status_code == 200
    assert api.get(f"/api/v1/tasks/{task_id}/history").status_code == 200


def test_a_key_restricted_to_other_services_may_not_touch_tasks(tenant):
    api, _ = key_api(tenant, "service", allowed_services=["search"])
    response = api.get("/api/v1/tasks")
    assert error_of(response)[:2] == (403, "service_not_allowed")
