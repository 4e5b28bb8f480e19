"""CORS from the calling key's tenant's allowed_origins; preflights from any active tenant's."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.services import tenant_config_update
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def web_tenant(tenant):
    tenant_config_update(tenant=tenant, allowed_origins=["https://app.example.com"])
    return tenant


def test_a_listed_origin_gets_cors_headers(web_tenant):
    api = factories.client_for(factories.issued_key(web_tenant, "user").raw_key)
    response = api.get("/api/v1/me", HTTP_ORIGIN="https://app.example.com")
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "RateLimit-Remaining" in response["Access-Control-Expose-Headers"]
    assert "Origin" in response["Vary"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://app.example.com.evil.example", "http://app.example.com", "null"]
)
def test_an_unknown_origin_is_never_reflected(web_tenant, origin):
    api = factories.client_for(factories.issued_key(web_tenant, "user").raw_key)
    response = api.get("/api/v1/me", HTTP_ORIGIN=origin)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_another_tenants_origin_is_not_allowed_for_this_key(web_tenant, other_tenant):
    tenant_config_update(tenant=other_tenant, allowed_origins=["https://other.example"])
    api = factories.client_for(factories.issued_key(web_tenant, "user").raw_key)
    assert "Access-Control-Allow-Origin" not in api.get("/api/v1/me", HTTP_ORIGIN="https://other.example")


def test_a_star_is_honoured_only_when_listed(tenant):
    api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    assert "Access-Control-Allow-Origin" not in api.get("/api/v1/me", HTTP_ORIGIN="https://any.example")
    tenant_config_update(tenant=tenant, allowed_origins=["*"])
    assert api.get("/api/v1/me", HTTP_ORIGIN="https://any.example")["Access-Control-Allow-Origin"] == "*"


def preflight(origin: str):
    return APIClient().options(
        "/api/v1/me",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


def test_preflight_for_an_origin_some_active_tenant_lists(web_tenant):
    response = preflight("https://app.example.com")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert "X-API-Key" in response["Access-Control-Allow-Headers"]
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert int(response["Access-Control-Max-Age"]) > 0


def test_preflight_for_an_unknown_origin_or_an_inactive_tenant(web_tenant):
    response = preflight("https://evil.example")
    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response
    from tenants.services import tenant_update

    tenant_update(tenant=web_tenant, is_active=False)
    assert "Access-Control-Allow-Origin" not in preflight("https://app.example.com")


def test_non_api_paths_are_untouched(web_tenant):
    response = APIClient().get("/admin/login/", HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in response
