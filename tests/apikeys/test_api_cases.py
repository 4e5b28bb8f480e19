"""Generic API cases of the keys endpoints (`/me`, `/api-keys`): see tests/api_cases.py for the generated tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every

#: Keys are the `keys` service: admin keys manage their tenant's keys, gateway keys their descendants.
MANAGERS = every(403, admin=200, gateway=200)


def managed_key(ctx: Ctx) -> Any:
    """A key the caller manages if it manages any: its child (a gateway sees only its descendants)."""
    parent = ctx.key if ctx.key_type in ("admin", "gateway") else None
    return factories.issued_key(ctx.tenant, "user", parent=parent).key


ME = Case(
    name="me",
    calls=(Call("GET", "/api/v1/me", every(200)),),
)

API_KEYS = Case(
    name="api-keys",
    sample=managed_key,
    calls=(
        Call("GET", "/api/v1/api-keys", MANAGERS, max_queries=5),
        Call(
            "POST",
            "/api/v1/api-keys",
            every(403, admin=201, gateway=201),
            body={"name": "child", "key_type": "user"},
        ),
        Call("GET", "/api/v1/api-keys/{pk}", MANAGERS),
        Call("POST", "/api/v1/api-keys/{pk}/revoke", MANAGERS),
        Call("POST", "/api/v1/api-keys/{pk}/rotate", every(403, admin=201, gateway=201), body={}),
    ),
)

globals().update(api_tests(ME, API_KEYS))


@pytest.mark.django_db
def test_a_restricted_admin_key_cannot_rotate_its_way_to_its_parents_powers() -> None:
    tenant = factories.service_tenant()
    root = factories.issued_key(tenant, "admin")
    child = factories.issued_key(
        tenant, "admin", parent=root.key, allowed_services=["keys"], expires_at=factories.in_an_hour()
    )
    response = factories.client_for(child.raw_key).post(f"/api/v1/api-keys/{root.key.pk}/rotate", {}, format="json")
    assert response.status_code in (403, 404), response.json()
