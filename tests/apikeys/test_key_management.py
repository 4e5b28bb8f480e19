"""Who may rotate, revoke and rename which key (issue 13): itself, or a descendant it could issue today.

The matrix is generated from the relation of the target to the caller (`TARGETS`) and the key types that may
manage keys at all (`apikeys.policy.MATRIX["…"]["keys"]`): a new key type or relation is covered without a
hand-written case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apikeys import policy
from apikeys.models import ApiKey
from apikeys.services import apikey_rename, apikey_rotate
from mcpadmin.core.access import WRITE
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden
from tests import factories
from tests.api_cases import error_of
from tests.factories import OPERATOR

#: Key types the matrix lets manage keys; every other type is refused by the service check (403) before this rule.
MANAGERS = [key_type for key_type, services in policy.MATRIX.items() if WRITE in services.get("keys", ())]


def _itself(ctx: dict[str, Any]) -> ApiKey:
    return ctx["caller"].key


def _descendant(ctx: dict[str, Any]) -> ApiKey:
    """A grandchild where the caller may issue keys that issue keys (admin → gateway → user), else a child."""
    caller = ctx["caller"].key
    if not policy.may_issue(caller.key_type, "gateway"):
        return factories.issued_key(ctx["tenant"], "user", parent=caller).key
    child = factories.issued_key(ctx["tenant"], "gateway", parent=caller)
    return factories.issued_key(ctx["tenant"], "user", parent=child.key).key


def _ancestor(ctx: dict[str, Any]) -> ApiKey:
    return ctx["root"].key


def _sibling(ctx: dict[str, Any]) -> ApiKey:
    return factories.issued_key(ctx["tenant"], "user", parent=ctx["root"].key).key


def _another_root(ctx: dict[str, Any]) -> ApiKey:
    return factories.issued_key(ctx["tenant"], "admin").key


def _another_tenants(ctx: dict[str, Any]) -> ApiKey:
    return factories.issued_key(factories.service_tenant(), "admin").key


#: relation → (factory, expected status per manager type for rotate (revoke: 200 instead of 201)).
#: An admin key sees every key of its tenant (so a key it may not manage is 403); a gateway sees only its
#: descendants (so anything else is 404, as for another tenant's).
TARGETS: dict[str, tuple[Callable[[dict[str, Any]], ApiKey], dict[str, int]]] = {
    "itself": (_itself, {"admin": 201, "gateway": 201}),
    "descendant": (_descendant, {"admin": 201, "gateway": 201}),
    "ancestor": (_ancestor, {"admin": 403, "gateway": 404}),
    "sibling": (_sibling, {"admin": 403, "gateway": 404}),
    "another root key": (_another_root, {"admin": 403, "gateway": 404}),
    "another tenant's": (_another_tenants, {"admin": 404, "gateway": 404}),
}


def _context(key_type: str, **restrictions: Any) -> dict[str, Any]:
    tenant = factories.service_tenant()
    root = factories.issued_key(tenant, "admin")
    caller = factories.issued_key(tenant, key_type, parent=root.key, **restrictions)
    return {"tenant": tenant, "root": root, "caller": caller}


@pytest.mark.django_db
@pytest.mark.parametrize("relation", list(TARGETS))
@pytest.mark.parametrize("key_type", MANAGERS)
@pytest.mark.parametrize("operation", ["rotate", "revoke"])
def test_a_key_manages_itself_and_its_descendants_only(operation: str, key_type: str, relation: str) -> None:
    ctx = _context(key_type)
    factory, expected = TARGETS[relation]
    target = factory(ctx)
    before = ApiKey.objects.get(pk=target.pk)
    response = factories.client_for(ctx["caller"].raw_key).post(
        f"/api/v1/api-keys/{target.pk}/{operation}", {}, format="json"
    )
    status = expected[key_type]
    if operation == "revoke" and status == 201:
        status = 200
    assert response.status_code == status, response.json()
    if status >= 400:
        after = ApiKey.objects.get(pk=target.pk)
        assert (after.revoked_at, after.metadata, after.expires_at) == (
            before.revoked_at,
            before.metadata,
            before.expires_at,
        ), "a refused call changes nothing"
        assert ApiKey.objects.filter(metadata__rotated_from=str(target.pk)).count() == 0
        assert "key" not in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "restriction",
    [{"allowed_services": ["keys"]}, {"expires_at": "soon"}],
    ids=["restricted services", "expiring"],
)
def test_a_restricted_key_cannot_launder_its_parents_powers_through_rotation(restriction: dict[str, Any]) -> None:
    if restriction.get("expires_at") == "soon":
        restriction = {"expires_at": factories.in_an_hour()}
    ctx = _context("admin", **restriction)
    client = factories.client_for(ctx["caller"].raw_key)
    for target in (ctx["root"].key, _sibling(ctx)):
        response = client.post(f"/api/v1/api-keys/{target.pk}/rotate", {}, format="json")
        assert response.status_code == 403, response.json()
        assert "key" not in response.json()
    # Its own child, issued within its restriction, it still rotates.
    child = client.post("/api/v1/api-keys", {"name": "child", "key_type": "user"}, format="json").json()
    response = client.post(f"/api/v1/api-keys/{child['id']}/rotate", {}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["allowed_services"] == list(ctx["caller"].key.allowed_services)


@pytest.mark.django_db
def test_a_descendant_wider_than_the_caller_is_refused_by_the_issuing_rule() -> None:
    """A descendant the caller could not issue today (an operator put a wider key under it) is not managed."""
    tenant = factories.service_tenant()
    caller = factories.issued_key(tenant, "admin", allowed_services=["keys", "tasks"])
    wide = factories.issued_key(tenant, "user", parent=caller.key, allowed_services=["tasks"])
    ApiKey.objects.filter(pk=wide.key.pk).update(allowed_services=[])  # as another writer of the table could
    with pytest.raises(Forbidden) as refused:
        apikey_rotate(actor=Actor.for_key(caller.key), key=ApiKey.objects.get(pk=wide.key.pk))
    assert refused.value.code == "services_not_allowed"


@pytest.mark.django_db
def test_operators_manage_every_key() -> None:
    tenant = factories.service_tenant()
    root = factories.issued_key(tenant, "admin", expires_at=factories.in_an_hour())
    successor = apikey_rotate(actor=OPERATOR, key=root.key)
    assert successor.key.expires_at == root.key.expires_at
    assert apikey_rename(actor=OPERATOR, key=successor.key, name="renamed").name == "renamed"


@pytest.mark.django_db
def test_revoking_a_rotated_key_revokes_its_successor_and_the_children_moved_under_it() -> None:
    tenant = factories.service_tenant()
    root = factories.issued_key(tenant, "admin")
    stolen = factories.issued_key(tenant, "admin", parent=root.key)
    child = factories.issued_key(tenant, "user", parent=stolen.key)
    owner = factories.client_for(root.raw_key)
    rotated = owner.post(f"/api/v1/api-keys/{stolen.key.pk}/rotate", {"grace_period_seconds": 3600}, format="json")
    assert rotated.status_code == 201
    successor_raw = rotated.json()["key"]
    assert factories.client_for(successor_raw).get("/api/v1/me").status_code == 200

    revoked = owner.post(f"/api/v1/api-keys/{stolen.key.pk}/revoke", {}, format="json")

    assert revoked.status_code == 200, revoked.json()
    assert revoked.json()["revoked"] == 3, "the key, its successor and the child moved under the successor"
    for raw in (stolen.raw_key, successor_raw, child.raw_key):
        assert factories.client_for(raw).get("/api/v1/me").status_code == 401
    assert factories.client_for(root.raw_key).get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_a_chain_of_rotations_is_revoked_from_its_first_key() -> None:
    tenant = factories.service_tenant()
    first = factories.issued_key(tenant, "service")
    second = apikey_rotate(actor=OPERATOR, key=first.key)
    third = apikey_rotate(actor=OPERATOR, key=second.key)
    owner = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    # An admin key that did not issue the chain may not revoke it; the operator may.
    assert owner.post(f"/api/v1/api-keys/{first.key.pk}/revoke", {}, format="json").status_code == 403
    from apikeys.services import apikey_revoke

    assert apikey_revoke(actor=OPERATOR, key=first.key) == 3
    assert ApiKey.objects.get(pk=third.key.pk).revoked_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("link", ["rotated_to", "rotated_from"])
def test_rotation_links_cannot_be_forged_in_client_metadata(admin_key: Any, link: str) -> None:
    client = factories.client_for(admin_key.raw_key)
    response = client.post(
        "/api/v1/api-keys",
        {"name": "forger", "key_type": "user", "metadata": {link: "00000000-0000-4000-8000-000000000000"}},
        format="json",
    )
    assert error_of(response) == (400, "invalid", [f"metadata.{link}"])
    assert not ApiKey.objects.filter(name="forger").exists()


@pytest.mark.django_db
def test_renaming_keeps_the_rotation_links_and_refuses_new_ones() -> None:
    tenant = factories.service_tenant()
    old = factories.issued_key(tenant, "admin")
    apikey_rotate(actor=OPERATOR, key=old.key, grace_period=timedelta(hours=1))
    stored = ApiKey.objects.get(pk=old.key.pk)
    renamed = apikey_rename(actor=OPERATOR, key=stored, name="x", metadata={"team": "a"})
    assert renamed.metadata["team"] == "a"
    assert renamed.metadata["rotated_to"]
    with pytest.raises(Exception) as refused:
        apikey_rename(actor=OPERATOR, key=stored, name="x", metadata={"rotated_to": ""})
    assert "metadata.rotated_to" in refused.value.details
    assert ApiKey.objects.get(pk=old.key.pk).expires_at <= timezone.now() + timedelta(hours=1)
