"""The keys API over real HTTP handling (DRF test client): /me, /api-keys, authentication, isolation."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from apikeys.services import apikey_issue, apikey_revoke
from tests import factories
from tests.factories import OPERATOR

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"error": {"code": "not_authenticated", "message": "Invalid or missing API key.", "details": {}}}


def test_me_describes_the_calling_key_with_either_header(tenant):
    parent = factories.issued_key(tenant, "admin")
    issued = apikey_issue(tenant=tenant, name="svc", key_type="service", parent=parent.key, allowed_services=["search"])
    for header in ("bearer", "x-api-key"):
        body = factories.client_for(issued.raw_key, header=header).get("/api/v1/me").json()
        assert body["id"] == str(issued.key.id)
        assert body["key_type"] == "service"
        assert body["tenant"] == {"id": str(tenant.id), "name": tenant.name}
        assert body["allowed_services"] == ["search"]
        assert body["parent_key_id"] == str(parent.key.id)
        assert body["expires_at"] is None
        assert "key_hash" not in body
        assert issued.raw_key not in str(body)


def test_every_kind_of_bad_key_gets_the_same_401(tenant):
    issued = factories.issued_key(tenant, "admin")
    revoked = factories.issued_key(tenant, "admin")
    apikey_revoke(actor=OPERATOR, key=revoked.key)
    # A different last character, whatever the generated one was (an "x" would make this the good key).
    tampered = issued.raw_key[:-1] + ("y" if issued.raw_key[-1] == "x" else "x")
    bad = [
        {},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "Bearer garbage"},
        {"HTTP_AUTHORIZATION": f"Bearer {tampered}"},
        {"HTTP_X_API_KEY": revoked.raw_key},
        {"HTTP_AUTHORIZATION": "Bearer " + factories.issued_key(factories.service_tenant(is_active=False)).raw_key},
    ]
    for headers in bad:
        response = APIClient().get("/api/v1/me", **headers)
        assert response.status_code == 401, headers
        assert response.json() == UNAUTHORIZED
        assert response["WWW-Authenticate"] == 'Bearer realm="mcpadmin"'


@override_settings(MCPADMIN_AUTH_FAILURES_PER_MINUTE=10)
def test_a_client_that_keeps_failing_is_slowed_down_with_429_but_a_good_key_still_works(tenant):
    issued = factories.issued_key(tenant, "admin")
    attacker = APIClient(REMOTE_ADDR="203.0.113.7")
    statuses = [attacker.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer bad-{i}").status_code for i in range(13)]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 3
    locked = attacker.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer bad")
    assert locked.json()["error"]["code"] == "too_many_failures"
    assert int(locked["Retry-After"]) >= 1
    assert APIClient(REMOTE_ADDR="198.51.100.1").get("/api/v1/me", HTTP_AUTHORIZATION="Bearer bad").status_code == 401
    good = APIClient(REMOTE_ADDR="203.0.113.7").get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert good.status_code == 200


def test_an_admin_issues_a_child_key_shown_once(admin_key, admin_api):
    response = admin_api.post(
        "/api/v1/api-keys",
        {"name": "worker", "key_type": "service", "allowed_services": ["tasks"], "expires_in_seconds": 3600},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"mcp_service_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", body["key"])
    assert body["parent_key_id"] == str(admin_key.key.id)
    assert response["Cache-Control"] == "no-store"
    detail = admin_api.get(f"/api/v1/api-keys/{body['id']}").json()
    assert "key" not in detail
    assert body["key"] not in str(detail)
    listing = admin_api.get("/api/v1/api-keys").json()
    assert body["key"] not in str(listing)
    assert factories.client_for(body["key"]).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    "extra",
    [
        {"tenant": "00000000-0000-0000-0000-000000000000"},
        {"tenant_id": "00000000-0000-0000-0000-000000000000"},
        {"key_hash": "0" * 64},
        {"key_prefix": "AAAAAAAAAAAA"},
        {"parent_key_id": "00000000-0000-0000-0000-000000000000"},
        {"is_active": True},
        {"revoked_at": None},
    ],
)
def test_mass_assignment_is_refused(admin_api, extra):
    response = admin_api.post("/api/v1/api-keys", {"name": "x", "key_type": "user", **extra}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == set(extra)
    assert not ApiKey.objects.filter(name="x").exists()


def test_a_gateway_cannot_escalate_key_types_and_manages_only_itself_and_its_descendants(tenant, admin_key):
    gateway = apikey_issue(tenant=tenant, name="gw", key_type="gateway", parent=admin_key.key)
    api = factories.client_for(gateway.raw_key)
    for key_type in ("admin", "gateway", "service"):
        refused = api.post("/api/v1/api-keys", {"name": "x", "key_type": key_type}, format="json")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "key_type_not_allowed"
    mine = api.post("/api/v1/api-keys", {"name": "u", "key_type": "user"}, format="json").json()
    agent = factories.agent(tenant)
    also_mine = api.post(
        "/api/v1/api-keys", {"name": "a", "key_type": "agent", "agent_id": str(agent.id)}, format="json"
    ).json()
    unrelated = factories.issued_key(tenant, "service").key
    listed = {row["id"] for row in api.get("/api/v1/api-keys").json()["results"]}
    assert listed == {mine["id"], also_mine["id"], str(gateway.key.id)}
    assert api.get(f"/api/v1/api-keys/{unrelated.id}").status_code == 404
    assert api.post(f"/api/v1/api-keys/{unrelated.id}/revoke").status_code == 404
    assert api.post(f"/api/v1/api-keys/{admin_key.key.id}/revoke").status_code == 404, "not even its own parent"
    assert api.post(f"/api/v1/api-keys/{mine['id']}/revoke").json()["revoked"] == 1
    assert factories.client_for(also_mine["key"]).get("/api/v1/me").status_code == 200
    assert api.post(f"/api/v1/api-keys/{gateway.key.id}/revoke").json()["revoked"] == 2, "itself, and its child"
    assert factories.client_for(also_mine["key"]).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("key_type", ["service", "agent", "user"])
def test_keys_that_issue_nothing_cannot_use_the_keys_service(tenant, key_type):
    api = factories.client_for(factories.issued_key(tenant, key_type).raw_key)
    for response in (api.get("/api/v1/api-keys"), api.post("/api/v1/api-keys", {"name": "x", "key_type": "user"})):
        assert response.status_code == 403
        assert response.json()["error"]["details"]["service"] == "keys"


def test_revoke_and_rotate_through_the_api(tenant, admin_api):
    created = admin_api.post("/api/v1/api-keys", {"name": "svc", "key_type": "service"}, format="json").json()
    rotated = admin_api.post(f"/api/v1/api-keys/{created['id']}/rotate", {"grace_period_seconds": 0}, format="json")
    assert rotated.status_code == 201
    assert factories.client_for(created["key"]).get("/api/v1/me").status_code == 401
    new_key = rotated.json()["key"]
    assert factories.client_for(new_key).get("/api/v1/me").status_code == 200
    revoked = admin_api.post(f"/api/v1/api-keys/{rotated.json()['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["key"]["state"] == "revoked"
    assert factories.client_for(new_key).get("/api/v1/me").status_code == 401
    again = admin_api.post(f"/api/v1/api-keys/{rotated.json()['id']}/rotate", {}, format="json")
    assert again.status_code == 409


@pytest.mark.parametrize("grace", [-1, 31 * 86400, "soon"])
def test_rotation_grace_is_validated(admin_api, admin_key, grace):
    response = admin_api.post(
        f"/api/v1/api-keys/{admin_key.key.id}/rotate", {"grace_period_seconds": grace}, format="json"
    )
    assert response.status_code == 400
    assert "grace_period_seconds" in response.json()["error"]["details"]


def test_another_tenants_keys_are_404_on_every_key_endpoint(admin_api, other_tenant):
    foreign = factories.issued_key(other_tenant, "user").key
    for method, url in [
        ("get", f"/api/v1/api-keys/{foreign.id}"),
        ("post", f"/api/v1/api-keys/{foreign.id}/revoke"),
        ("post", f"/api/v1/api-keys/{foreign.id}/rotate"),
    ]:
        response = getattr(admin_api, method)(url, {}, format="json")
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert str(foreign.id) not in str(admin_api.get("/api/v1/api-keys?limit=500").json())
    assert ApiKey.objects.get(pk=foreign.pk).revoked_at is None


def test_agent_keys_need_an_agent_of_the_same_tenant(admin_api, tenant, other_tenant):
    foreign_agent = factories.agent(other_tenant)
    missing = admin_api.post("/api/v1/api-keys", {"name": "a", "key_type": "agent"}, format="json")
    assert missing.status_code == 400
    foreign = admin_api.post(
        "/api/v1/api-keys", {"name": "a", "key_type": "agent", "agent_id": str(foreign_agent.id)}, format="json"
    )
    assert foreign.status_code == 400
    assert foreign.json()["error"]["details"] == {"agent_id": ["No such agent."]}
    own = admin_api.post(
        "/api/v1/api-keys",
        {"name": "a", "key_type": "agent", "agent_id": str(factories.agent(tenant).id)},
        format="json",
    )
    assert own.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key_type": "user"}, "name"),
        ({"name": "x", "key_type": "root"}, "key_type"),
        ({"name": "x", "key_type": "user", "allowed_services": ["billing"]}, "allowed_services"),
        ({"name": "x", "key_type": "user", "allowed_services": "tasks"}, "allowed_services"),
        ({"name": "x", "key_type": "user", "expires_at": "yesterday"}, "expires_at"),
        ({"name": "x", "key_type": "user", "expires_in_seconds": 5}, "expires_in_seconds"),
        ({"name": "x", "key_type": "user", "metadata": [1]}, "metadata"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin_api, body, field):
    response = admin_api.post("/api/v1/api-keys", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_a_body_that_is_not_json_is_a_400(admin_api):
    response = admin_api.post("/api/v1/api-keys", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_key_lists_are_paginated_and_filterable(admin_api, admin_key, tenant):
    for i in range(3):
        apikey_issue(tenant=tenant, name=f"u{i}", key_type="user", parent=admin_key.key)
    page = admin_api.get("/api/v1/api-keys?limit=2").json()
    assert page["count"] == 4
    assert len(page["results"]) == 2
    assert page["next"]
    users = admin_api.get("/api/v1/api-keys?key_type=user").json()
    assert users["count"] == 3
    assert admin_api.get("/api/v1/api-keys?key_type=root").status_code == 400
