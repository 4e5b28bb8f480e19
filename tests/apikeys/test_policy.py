"""Every key type x every service area x read/write, allowed and refused, as documented (docs/developers/keys.md)."""

from __future__ import annotations

import pytest

from apikeys.services import apikey_issue
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.apikeys.probe_urls")]

R, W, RW, NO = "r", "w", "rw", ""
# Written out by hand (not derived from apikeys.policy) so that a change to the policy must change this table,
# the docs' matrix (docs/developers/keys.md) and this test together.
EXPECTED = {
    #            keys tenant-config agents tasks workflows workspaces search audit
    "admin":   [RW,  RW,            RW,    RW,   RW,       RW,        RW,    R],
    "gateway": [RW,  NO,            RW,    RW,   RW,       RW,        RW,    NO],
    "service": [NO,  NO,            RW,    RW,   RW,       RW,        RW,    NO],
    "agent":   [NO,  NO,            RW,    RW,   R,        RW,        RW,    NO],
    "user":    [NO,  NO,            R,     RW,   R,        R,         R,     NO],
}  # fmt: skip
SERVICES = ["keys", "tenant-config", "agents", "tasks", "workflows", "workspaces", "search", "audit"]


@pytest.mark.parametrize("key_type", list(EXPECTED))
def test_key_type_matrix(tenant, key_type):
    api = factories.client_for(factories.issued_key(tenant, key_type).raw_key)
    for service, grant in zip(SERVICES, EXPECTED[key_type], strict=True):
        for method, letter in (("get", R), ("post", W)):
            response = getattr(api, method)(f"/api/v1/probe/{service}")
            if letter in grant:
                assert response.status_code == 200, (key_type, service, method)
            else:
                assert response.status_code == 403, (key_type, service, method)
                error = response.json()["error"]
                assert error["code"] == "service_not_allowed"
                assert error["details"]["service"] == service


def test_allowed_services_narrow_a_key_to_the_named_services(tenant):
    admin = factories.issued_key(tenant, "admin").key
    issued = apikey_issue(
        tenant=tenant, name="s", key_type="service", parent=admin, allowed_services=["search", "tasks"]
    )
    api = factories.client_for(issued.raw_key)
    for service in SERVICES:
        response = api.get(f"/api/v1/probe/{service}")
        if service in ("search", "tasks"):
            assert response.status_code == 200
        else:
            assert response.status_code == 403
            assert response.json()["error"] == {
                "code": "service_not_allowed",
                "message": f"This key may not call the {service} service.",
                "details": {"service": service},
            }


def test_allowed_services_never_widen_the_key_type(tenant):
    admin = factories.issued_key(tenant, "admin").key
    issued = apikey_issue(tenant=tenant, name="u", key_type="user", parent=admin, allowed_services=["search"])
    assert factories.client_for(issued.raw_key).post("/api/v1/probe/search").status_code == 403


def test_a_service_switched_off_by_a_feature_flag_is_refused_even_to_admin_keys(tenant):
    from tenants.services import tenant_config_update

    tenant_config_update(tenant=tenant, features={"search": False, "tasks": True, "beta-ui": False})
    api = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    refused = api.get("/api/v1/probe/search")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "feature_disabled"
    assert refused.json()["error"]["details"] == {"service": "search"}
    assert api.get("/api/v1/probe/tasks").status_code == 200
    assert api.get("/api/v1/probe/agents").status_code == 200, "a missing flag means on"


def test_without_a_key_every_service_is_401(db):
    from rest_framework.test import APIClient

    for service in SERVICES:
        assert APIClient().get(f"/api/v1/probe/{service}").status_code == 401
