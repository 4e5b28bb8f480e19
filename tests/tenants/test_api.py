"""Tenant configuration over the API: validated shapes, write-only service tokens, isolation."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tenants.models import TenantConfig
from tests import factories

pytestmark = pytest.mark.django_db


def test_get_shows_the_configuration_and_effective_limits(admin_api, tenant):
    body = admin_api.get("/api/v1/tenant-config").json()
    assert body["tenant"] == {"id": str(tenant.id), "name": tenant.name}
    assert body["rate_limit_config"] == {}
    assert body["effective_limits"]["user"] == {"per_minute": 60, "per_hour": 1000, "per_day": 10000}
    assert body["allowed_origins"] == []
    assert body["features"] == {}
    assert body["service_tokens"] == []


def test_patch_validates_and_replaces_members(admin_api):
    config = {
        "default_requests_per_minute": 100,
        "key_type_overrides": {"agent": {"requests_per_minute": 600}},
        "endpoint_overrides": {"search": {"requests_per_minute": 120, "burst_size": 20}},
    }
    response = admin_api.patch(
        "/api/v1/tenant-config",
        {"rate_limit_config": config, "allowed_origins": ["https://app.example.com", "http://localhost:3000"]},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["rate_limit_config"] == config
    assert body["effective_limits"]["agent"] == {"per_minute": 600, "per_hour": 1000, "per_day": 10000}
    assert body["effective_limits"]["user"]["per_minute"] == 100
    assert admin_api.patch("/api/v1/tenant-config", {"features": {"search": False}}, format="json").json()[
        "allowed_origins"
    ] == ["https://app.example.com", "http://localhost:3000"], "members not given stay"


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"rate_limit_config": []}, "rate_limit_config"),
        ({"rate_limit_config": {"default_requests_per_minute": 0}}, "rate_limit_config.default_requests_per_minute"),
        ({"rate_limit_config": {"default_requests_per_hour": "many"}}, "rate_limit_config.default_requests_per_hour"),
        ({"rate_limit_config": {"default_requests_per_day": True}}, "rate_limit_config.default_requests_per_day"),
        ({"rate_limit_config": {"per_minute": 5}}, "rate_limit_config.per_minute"),
        ({"rate_limit_config": {"key_type_overrides": {"robot": {}}}}, "rate_limit_config.key_type_overrides.robot"),
        (
            {"rate_limit_config": {"key_type_overrides": {"user": {"requests_per_week": 5}}}},
            "rate_limit_config.key_type_overrides.user.requests_per_week",
        ),
        (
            {"rate_limit_config": {"endpoint_overrides": {"billing": {"requests_per_minute": 1, "burst_size": 1}}}},
            "rate_limit_config.endpoint_overrides.billing",
        ),
        (
            {"rate_limit_config": {"endpoint_overrides": {"search": {"requests_per_minute": 5}}}},
            "rate_limit_config.endpoint_overrides.search.burst_size",
        ),
        ({"allowed_origins": "https://a.example"}, "allowed_origins"),
        ({"allowed_origins": ["https://a.example/"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["https://ok.example", "ftp://a.example"]}, "allowed_origins[1]"),
        ({"allowed_origins": ["HTTPS://A.EXAMPLE"]}, "allowed_origins[0]"),
        ({"features": {"Search": True}}, "features.Search"),
        ({"features": {"search": {"nested": True}}}, "features.search"),
    ],
)
def test_invalid_configuration_is_a_400_naming_the_path_and_changes_nothing(admin_api, tenant, patch, path):
    response = admin_api.patch("/api/v1/tenant-config", patch, format="json")
    assert response.status_code == 400
    assert path in response.json()["error"]["details"]
    config = TenantConfig.objects.get(tenant=tenant)
    assert (config.rate_limit_config, config.allowed_origins, config.features) == ({}, [], {})


def test_unknown_members_of_the_body_are_refused(admin_api):
    response = admin_api.patch("/api/v1/tenant-config", {"service_tokens": {"github": "x"}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"service_tokens": ["Unknown field."]}


def test_service_tokens_are_write_only_and_encrypted_at_rest(admin_api, tenant):
    token = "ghp_SuperSecretTokenValue1234"
    put = admin_api.put("/api/v1/tenant-config/service-tokens/github", {"token": token}, format="json")
    assert put.status_code == 200
    assert put.json()["provider"] == "github"
    assert put.json()["last4"] == "1234"
    assert token not in put.content.decode()
    body = admin_api.get("/api/v1/tenant-config").content.decode()
    assert token not in body
    assert "ghp_" not in body
    assert json.loads(body)["service_tokens"][0]["last4"] == "1234"
    with connection.cursor() as cursor:
        cursor.execute("SELECT service_tokens::text FROM tenant_config WHERE tenant_id = %s", [tenant.id])
        stored = cursor.fetchone()[0]
    assert token not in stored
    assert "SuperSecret" not in stored

    from tenants.services import service_token_reveal

    assert service_token_reveal(tenant=tenant, provider="github") == token
    assert admin_api.delete("/api/v1/tenant-config/service-tokens/github").status_code == 204
    assert admin_api.get("/api/v1/tenant-config").json()["service_tokens"] == []
    assert admin_api.delete("/api/v1/tenant-config/service-tokens/github").status_code == 404


@pytest.mark.parametrize(
    ("provider", "body"),
    [("GitHub", {"token": "x" * 10}), ("github", {"token": ""}), ("github", {}), ("github", {"token": "x", "a": 1})],
)
def test_bad_service_token_writes_are_400(admin_api, provider, body):
    assert admin_api.put(f"/api/v1/tenant-config/service-tokens/{provider}", body, format="json").status_code == 400


def test_only_admin_keys_reach_the_tenant_configuration(tenant):
    for key_type in ("gateway", "service", "agent", "user"):
        api = factories.client_for(factories.issued_key(tenant, key_type).raw_key)
        assert api.get("/api/v1/tenant-config").status_code == 403
        assert (
            api.put("/api/v1/tenant-config/service-tokens/x", {"token": "abcdefgh"}, format="json").status_code == 403
        )


def test_each_admin_key_sees_only_its_own_tenant(admin_api, other_tenant):
    from tenants.services import service_token_set, tenant_config_update

    tenant_config_update(tenant=other_tenant, allowed_origins=["https://other.example"])
    service_token_set(tenant=other_tenant, provider="slack", token="xoxb-other-tenant-token")
    body = admin_api.get("/api/v1/tenant-config").content.decode()
    assert "other.example" not in body
    assert "slack" not in body
    assert str(other_tenant.id) not in body
    assert admin_api.delete("/api/v1/tenant-config/service-tokens/slack").status_code == 404
