"""Issuing, hierarchy, revocation (cascading), rotation and expiry of keys, through the services."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import apikey_authenticate, apikey_issue, apikey_rename, apikey_revoke, apikey_rotate
from mcpadmin.api.errors import status_of
from mcpadmin.core.errors import DomainError
from tests import factories
from tests.factories import OPERATOR
from tests.tasks.helpers import run_concurrently

pytestmark = pytest.mark.django_db


def test_only_the_hash_and_public_id_are_stored(tenant):
    issued = factories.issued_key(tenant, "service")
    row = ApiKey.objects.values().get(pk=issued.key.pk)
    assert issued.raw_key not in str(row)
    assert row["key_hash"] == __import__("hashlib").sha256(issued.raw_key.encode()).hexdigest()
    assert issued.raw_key.split("_")[2] == row["key_prefix"]


def test_a_valid_key_authenticates_and_records_its_use_once_a_minute(tenant):
    issued = factories.issued_key(tenant, "user")
    key = apikey_authenticate(issued.raw_key)
    assert key.pk == issued.key.pk
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    apikey_authenticate(issued.raw_key)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first, "not rewritten within the minute"
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    apikey_authenticate(issued.raw_key)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


@pytest.mark.parametrize(
    "spoil",
    [
        lambda key: ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1)),
        lambda key: apikey_revoke(actor=OPERATOR, key=key),
        lambda key: ApiKey.objects.filter(pk=key.pk).update(is_active=False),
        lambda key: key.tenant.__class__.objects.filter(pk=key.tenant_id).update(is_active=False),
        lambda key: ApiKey.objects.filter(pk=key.pk).update(key_hash="0" * 64),
    ],
    ids=["expired", "revoked", "inactive", "inactive-tenant", "wrong-secret"],
)
def test_unusable_keys_do_not_authenticate(tenant, spoil):
    issued = factories.issued_key(tenant, "user")
    spoil(issued.key)
    assert apikey_authenticate(issued.raw_key) is None


def test_a_key_whose_type_was_changed_in_the_database_does_not_authenticate(tenant):
    issued = factories.issued_key(tenant, "user")
    ApiKey.objects.filter(pk=issued.key.pk).update(key_type="admin")
    assert apikey_authenticate(issued.raw_key) is None


@pytest.mark.parametrize(
    ("parent_type", "child_type", "allowed"),
    [
        ("admin", "admin", True), ("admin", "gateway", True), ("admin", "service", True), ("admin", "agent", True),
        ("admin", "user", True), ("gateway", "user", True), ("gateway", "agent", True), ("gateway", "admin", False),
        ("gateway", "gateway", False), ("gateway", "service", False), ("service", "user", False),
        ("agent", "user", False), ("user", "user", False),
    ],
)  # fmt: skip
def test_which_key_types_may_issue_which(tenant, parent_type, child_type, allowed):
    parent = factories.issued_key(tenant, parent_type).key
    agent = factories.agent(tenant) if child_type == "agent" else None
    if allowed:
        child = apikey_issue(tenant=tenant, name="c", key_type=child_type, parent=parent, agent=agent).key
        assert child.parent_key_id == parent.pk
    else:
        with pytest.raises(DomainError) as error:
            apikey_issue(tenant=tenant, name="c", key_type=child_type, parent=parent, agent=agent)
        assert error.value.code == "key_type_not_allowed"
        assert status_of(error.value) == 403


def test_a_child_cannot_have_more_services_than_a_restricted_parent(tenant):
    parent = factories.issued_key(tenant, "gateway", allowed_services=["keys", "tasks"]).key
    inherited = apikey_issue(tenant=tenant, name="c", key_type="user", parent=parent).key
    assert inherited.allowed_services == ["keys", "tasks"]
    narrower = apikey_issue(tenant=tenant, name="c", key_type="user", parent=parent, allowed_services=["tasks"]).key
    assert narrower.allowed_services == ["tasks"]
    for services in (["tasks", "search"], []):
        with pytest.raises(DomainError) as error:
            apikey_issue(tenant=tenant, name="c", key_type="user", parent=parent, allowed_services=services)
        assert error.value.code == "services_not_allowed"


def test_unknown_service_names_are_rejected(tenant):
    with pytest.raises(DomainError) as error:
        factories.issued_key(tenant, "service", allowed_services=["tasks", "billing"])
    assert error.value.code == "invalid"
    assert "billing" in error.value.message


def test_a_child_cannot_outlive_its_parent(tenant):
    soon = timezone.now() + timedelta(hours=1)
    parent = factories.issued_key(tenant, "admin", expires_at=soon).key
    assert apikey_issue(tenant=tenant, name="c", key_type="user", parent=parent).key.expires_at == soon
    with pytest.raises(DomainError) as error:
        apikey_issue(tenant=tenant, name="c", key_type="user", parent=parent, expires_at=soon + timedelta(seconds=1))
    assert error.value.code == "expiry_not_allowed"


def test_expiry_must_be_in_the_future(tenant):
    with pytest.raises(DomainError):
        factories.issued_key(tenant, "user", expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("state", ["revoked", "expired", "inactive"])
def test_an_unusable_parent_cannot_issue(tenant, state):
    parent = factories.issued_key(tenant, "admin").key
    if state == "revoked":
        apikey_revoke(actor=OPERATOR, key=parent)
    elif state == "expired":
        ApiKey.objects.filter(pk=parent.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        ApiKey.objects.filter(pk=parent.pk).update(is_active=False)
    with pytest.raises(DomainError) as error:
        apikey_issue(tenant=tenant, name="c", key_type="user", parent=parent)
    assert error.value.code == "parent_unusable"


def test_a_parent_cannot_issue_into_another_tenant(tenant, other_tenant):
    parent = factories.issued_key(tenant, "admin").key
    with pytest.raises(DomainError) as error:
        apikey_issue(tenant=other_tenant, name="c", key_type="user", parent=parent)
    assert error.value.code == "cross_tenant"


def test_agent_keys_name_an_active_agent_of_their_tenant(tenant, other_tenant):
    with pytest.raises(DomainError):
        apikey_issue(tenant=tenant, name="a", key_type="agent")
    with pytest.raises(DomainError):
        apikey_issue(tenant=tenant, name="a", key_type="agent", agent=factories.agent(other_tenant))
    with pytest.raises(DomainError) as error:
        apikey_issue(tenant=tenant, name="a", key_type="agent", agent=factories.agent(tenant, status="disabled"))
    assert error.value.code == "agent_disabled"
    with pytest.raises(DomainError):
        apikey_issue(tenant=tenant, name="u", key_type="user", agent=factories.agent(tenant))


def test_revoking_a_key_revokes_its_descendants_and_nothing_else(tenant):
    root = factories.issued_key(tenant, "admin")
    gateway = apikey_issue(tenant=tenant, name="g", key_type="gateway", parent=root.key)
    users = [apikey_issue(tenant=tenant, name=f"u{i}", key_type="user", parent=gateway.key) for i in range(3)]
    sibling = apikey_issue(tenant=tenant, name="s", key_type="service", parent=root.key)
    assert apikey_revoke(actor=OPERATOR, key=gateway.key) == 4
    for issued in [gateway, *users]:
        assert apikey_authenticate(issued.raw_key) is None
        assert ApiKey.objects.get(pk=issued.key.pk).revoked_at is not None
    assert apikey_authenticate(sibling.raw_key) is not None
    assert apikey_authenticate(root.raw_key) is not None
    assert apikey_revoke(actor=OPERATOR, key=gateway.key) == 0, "revocation is idempotent"


def test_rotation_keeps_settings_moves_children_and_honours_the_grace_period(tenant):
    parent = factories.issued_key(tenant, "admin")
    old = apikey_issue(
        tenant=tenant, name="gw", key_type="gateway", parent=parent.key, allowed_services=["keys", "tasks"]
    )
    child = apikey_issue(tenant=tenant, name="u", key_type="user", parent=old.key)
    new = apikey_rotate(actor=OPERATOR, key=old.key, grace_period=timedelta(hours=2))
    assert (new.key.key_type, new.key.parent_key_id, new.key.allowed_services, new.key.name) == (
        "gateway", parent.key.pk, ["keys", "tasks"], "gw",
    )  # fmt: skip
    assert new.raw_key != old.raw_key
    assert ApiKey.objects.get(pk=child.key.pk).parent_key_id == new.key.pk
    assert apikey_authenticate(old.raw_key) is not None, "the old key works during the grace period"
    old_row = ApiKey.objects.get(pk=old.key.pk)
    assert timedelta(hours=1, minutes=59) < old_row.expires_at - timezone.now() <= timedelta(hours=2)
    ApiKey.objects.filter(pk=old.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert apikey_authenticate(old.raw_key) is None, "and stops after it"
    assert apikey_authenticate(new.raw_key) is not None
    assert apikey_revoke(actor=OPERATOR, key=new.key) == 2, "revoking the new key revokes the moved child"


def test_rotation_with_zero_grace_stops_the_old_key_now(tenant):
    old = factories.issued_key(tenant, "service")
    new = apikey_rotate(actor=OPERATOR, key=old.key, grace_period=timedelta(0))
    assert apikey_authenticate(old.raw_key) is None
    assert apikey_authenticate(new.raw_key) is not None


def test_a_revoked_key_cannot_be_rotated(tenant):
    issued = factories.issued_key(tenant, "service")
    apikey_revoke(actor=OPERATOR, key=issued.key)
    with pytest.raises(DomainError) as error:
        apikey_rotate(actor=OPERATOR, key=issued.key)
    assert error.value.code == "key_unusable"


@pytest.mark.django_db(transaction=True)
def test_a_child_issued_while_its_parent_is_revoked_does_not_survive():
    """Race: issue under a key while it is being revoked. Either the issuance fails, or the child is revoked too."""
    tenant = factories.service_tenant()
    for _ in range(5):
        root = factories.issued_key(tenant, "admin")
        gateway = apikey_issue(tenant=tenant, name="g", key_type="gateway", parent=root.key).key
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def issue(gateway=gateway, barrier=barrier, outcome=outcome) -> None:
            barrier.wait()
            try:
                outcome["child"] = apikey_issue(tenant=tenant, name="late", key_type="user", parent=gateway).key.pk
            except DomainError as error:
                outcome["child"] = error.code
            finally:
                connection.close()

        def revoke(root=root, barrier=barrier) -> None:
            barrier.wait()
            try:
                apikey_revoke(actor=OPERATOR, key=root.key)
            finally:
                connection.close()

        threads = [threading.Thread(target=issue), threading.Thread(target=revoke)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        surviving = ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True, parent_key__isnull=False)
        assert not surviving.exists(), outcome


def test_a_rotated_key_is_not_rotated_again_its_successor_is(tenant):
    old = factories.issued_key(tenant, "service")
    new = apikey_rotate(actor=OPERATOR, key=old.key, grace_period=timedelta(hours=1))
    with pytest.raises(DomainError) as error:
        apikey_rotate(actor=OPERATOR, key=old.key)
    assert (error.value.code, status_of(error.value)) == ("key_already_rotated", 409)
    assert error.value.details == {"rotated_to": str(new.key.pk)}
    assert apikey_rotate(actor=OPERATOR, key=new.key).key.metadata["rotated_from"] == str(new.key.pk)


@pytest.mark.django_db(transaction=True)
def test_concurrent_rotations_of_one_key_issue_one_successor():
    """Race: two rotations of the same key. The row lock orders them; the second sees the first's successor."""
    tenant = factories.service_tenant()
    for _ in range(3):
        old = factories.issued_key(tenant, "gateway")
        child = apikey_issue(tenant=tenant, name="c", key_type="user", parent=old.key).key

        def rotate(_: int, old=old) -> object:
            try:
                return apikey_rotate(actor=OPERATOR, key=old.key).key.pk
            except DomainError as error:
                return error.code

        outcomes = run_concurrently(2, rotate)
        assert len(outcomes) == 2
        assert outcomes.count("key_already_rotated") == 1, outcomes
        successors = ApiKey.objects.filter(metadata__rotated_from=str(old.key.pk))
        assert successors.count() == 1
        assert ApiKey.objects.get(pk=child.pk).parent_key_id == successors.get().pk


def test_new_metadata_keeps_the_rotation_links(tenant):
    old = factories.issued_key(tenant, "service")
    new = apikey_rotate(actor=OPERATOR, key=old.key)
    renamed = apikey_rename(actor=OPERATOR, key=ApiKey.objects.get(pk=old.key.pk), name="x", metadata={"team": "a"})
    assert renamed.metadata == {"team": "a", "rotated_to": str(new.key.pk)}
    with pytest.raises(DomainError) as error:
        apikey_rotate(actor=OPERATOR, key=renamed)
    assert error.value.code == "key_already_rotated", "still rotated once"
