"""Generic API cases of tenant configuration, service tokens and workspaces: see tests/api_cases.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every


def service_token(ctx: Ctx) -> Any:
    provider = factories.unique("provider")
    ctx.admin.put(f"/api/v1/tenant-config/service-tokens/{provider}", {"token": "secret-token-1234"}, format="json")
    return SimpleNamespace(provider=provider)


ADMIN_ONLY = every(403, admin=200)

TENANT_CONFIG = Case(
    name="tenant-config",
    calls=(
        Call("GET", "/api/v1/tenant-config", ADMIN_ONLY),
        Call("PATCH", "/api/v1/tenant-config", ADMIN_ONLY, body={"features": {"beta": True}}),
    ),
)

SERVICE_TOKENS = Case(
    name="service-tokens",
    sample=service_token,
    params=lambda sample: {"provider": sample.provider},
    calls=(
        # Providers are names within the caller's tenant: another tenant's name is a new token of the caller's.
        Call(
            "PUT",
            "/api/v1/tenant-config/service-tokens/{provider}",
            ADMIN_ONLY,
            body={"token": "secret-token-5678"},
            cross_tenant=200,
        ),
        Call("DELETE", "/api/v1/tenant-config/service-tokens/{provider}", every(403, admin=204)),
    ),
)


globals().update(api_tests(TENANT_CONFIG, SERVICE_TOKENS))
