"""`GET /api/v1/audit-events`: admin keys only, the caller's tenant only, filterable, paginated."""

from __future__ import annotations

import pytest

from apikeys.services import apikey_issue
from audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_lists_the_tenants_events_newest_first_and_never_another_tenants(tenant, other_tenant, admin_api):
    mine = factories.agent(tenant)
    theirs = factories.agent(other_tenant)
    body = admin_api.get("/api/v1/audit-events", {"object_type": "agents"}).json()
    listed = [(e["object_id"], e["action"]) for e in body["results"]]
    assert listed == [(str(mine.pk), "insert")]
    assert str(theirs.pk) not in str(body)
    ids = [e["id"] for e in admin_api.get("/api/v1/audit-events").json()["results"]]
    assert ids == sorted(ids, reverse=True)


def test_another_tenants_event_is_404(tenant, other_tenant, admin_api):
    theirs = factories.agent(other_tenant)
    event = AuditEvent.objects.get(object_id=str(theirs.pk))
    assert admin_api.get(f"/api/v1/audit-events/{event.pk}").status_code == 404
    mine = AuditEvent.objects.get(object_id=str(factories.agent(tenant).pk))
    shown = admin_api.get(f"/api/v1/audit-events/{mine.pk}")
    assert shown.status_code == 200
    assert shown.json()["new_values"]["name"] == mine.new_values["name"]
    assert admin_api.get("/api/v1/audit-events/not-a-number").status_code == 404


@pytest.mark.parametrize("key_type", ["gateway", "service", "agent", "user"])
def test_other_key_types_are_403(tenant, key_type):
    api = factories.client_for(factories.issued_key(tenant, key_type).raw_key)
    response = api.get("/api/v1/audit-events")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "service_not_allowed"


def test_an_admin_key_without_the_audit_service_is_403(tenant, admin_key):
    narrowed = apikey_issue(tenant=tenant, name="n", key_type="admin", parent=admin_key.key, allowed_services=["tasks"])
    response = factories.client_for(narrowed.raw_key).get("/api/v1/audit-events")
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"service": "audit"}


def test_filters(tenant, admin_key, admin_api):
    agent = factories.agent(tenant)
    assert admin_api.patch(f"/api/v1/agents/{agent.pk}", {"teams": ["a"]}, format="json").status_code == 200
    by_object = admin_api.get("/api/v1/audit-events", {"object_id": str(agent.pk)}).json()["results"]
    assert [e["action"] for e in by_object] == ["update", "insert"]
    updates = admin_api.get("/api/v1/audit-events", {"object_id": str(agent.pk), "action": "update"}).json()
    assert [e["changed_fields"] for e in updates["results"]] == [["teams"]]
    by_key = admin_api.get("/api/v1/audit-events", {"key_id": str(admin_key.key.id)}).json()["results"]
    assert [e["object_id"] for e in by_key] == [str(agent.pk)]
    assert by_key[0]["source"] == "api"
    latest = by_object[0]["created_at"]
    assert admin_api.get("/api/v1/audit-events", {"created_after": latest}).json()["count"] >= 1
    before = admin_api.get("/api/v1/audit-events", {"created_before": "2000-01-01T00:00:00Z"}).json()
    assert before["count"] == 0


def test_pagination(tenant, admin_api):
    for _ in range(3):
        factories.agent(tenant)
    page = admin_api.get("/api/v1/audit-events", {"object_type": "agents", "limit": 2}).json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"object_type": "auth_user"}, "object_type"),
        ({"action": "truncate"}, "action"),
        ({"key_id": "nope"}, "key_id"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"source": "anything"}, "source"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(admin_api, query, field):
    response = admin_api.get("/api/v1/audit-events", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_visible_to_is_the_one_rule(tenant, other_tenant):
    from mcpadmin.core.actor import Actor

    mine, theirs = factories.agent(tenant), factories.agent(other_tenant)
    ids = {str(mine.pk), str(theirs.pk)}
    admin = Actor.for_key(factories.issued_key(tenant, "admin").key)
    service = Actor.for_key(factories.issued_key(tenant, "service").key)
    seen = {e.object_id for e in AuditEvent.objects.visible_to(admin) if e.object_id in ids}
    assert seen == {str(mine.pk)}
    assert not AuditEvent.objects.visible_to(service).exists()
    operator = {e.object_id for e in AuditEvent.objects.visible_to(Actor.for_operator("op")) if e.object_id in ids}
    assert operator == ids
