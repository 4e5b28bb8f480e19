"""Idempotent task creation: replay, mismatch, tenant scope, header validation, expiry and purge."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from mcpadmin.core.idempotency import idempotency_key_purge_expired
from tasks.models import Task, TaskIdempotencyKey
from tests import factories
from workspaces.models import WorkspaceMember

pytestmark = pytest.mark.django_db


def create(api, body, key):
    return api.post("/api/v1/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_and_body_replays_the_first_201(tenant, admin_api):
    first = create(admin_api, {"title": "once", "priority": "high"}, "order-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    admin_api.post(f"/api/v1/tasks/{first.json()['id']}/transition", {"to_status": "cancelled"}, format="json")
    again = create(admin_api, {"priority": "high", "title": "once"}, "order-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.content == first.content, "the first response, byte for byte (not the task as it is now)"
    assert again["Location"] == first["Location"]
    assert Task.objects.filter(tenant=tenant).count() == 1


def test_the_same_key_with_another_body_is_422(tenant, admin_api):
    assert create(admin_api, {"title": "a"}, "k").status_code == 201
    response = create(admin_api, {"title": "b"}, "k")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_mismatch"
    assert list(response.json()["error"]["details"]) == ["Idempotency-Key"]
    assert Task.objects.filter(tenant=tenant).count() == 1


def test_keys_are_scoped_to_the_tenant(tenant, other_tenant, admin_api):
    other_api = factories.client_for(factories.issued_key(other_tenant, "admin").raw_key)
    mine, theirs = create(admin_api, {"title": "t"}, "shared"), create(other_api, {"title": "t"}, "shared")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs


def test_keys_of_the_same_tenant_share_the_key_space(tenant, admin_api):
    user_api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    first = create(admin_api, {"title": "t"}, "k")
    assert create(user_api, {"title": "t"}, "k").json()["id"] == first.json()["id"]


def test_a_replay_goes_only_to_a_caller_that_may_see_the_task(tenant, admin_api):
    private = factories.workspace(tenant, visibility="private")
    first = create(admin_api, {"title": "secret", "workspace_id": str(private.pk)}, "k")
    assert first.status_code == 201
    user_api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    response = create(user_api, {"title": "secret", "workspace_id": str(private.pk)}, "k")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_taken"
    assert first.json()["id"] not in response.content.decode(), "nothing of the stored answer"
    assert Task.objects.filter(tenant=tenant).count() == 1


def test_the_creating_key_gets_its_replay_even_for_a_task_it_cannot_see_any_more(tenant):
    agent = factories.agent(tenant)
    agent_api = factories.client_for(factories.issued_key(tenant, "agent", agent=agent).raw_key)
    private = factories.workspace(tenant, visibility="private")
    WorkspaceMember.objects.create(workspace=private, agent=agent, role="contributor")
    body = {"title": "for whoever takes it", "workspace_id": str(private.pk)}
    first = create(agent_api, body, "k")
    assert first.status_code == 201, first.json()
    WorkspaceMember.objects.filter(workspace=private, agent=agent).delete()  # it left the workspace since
    assert agent_api.get(f"/api/v1/tasks/{first.json()['id']}").status_code == 404
    again = create(agent_api, body, "k")
    assert (again.status_code, again["Idempotent-Replayed"], again.content) == (201, "true", first.content)


def test_the_stored_key_is_tenant_scoped_and_hashed(tenant, admin_api):
    create(admin_api, {"title": "t"}, "client-key-1")
    (row,) = TaskIdempotencyKey.objects.filter(tenant=tenant)
    assert row.idempotency_key == f"{tenant.id}:{hashlib.sha256(b'client-key-1').hexdigest()}"
    assert len(row.idempotency_key) == 101
    assert row.response_status == 201
    assert row.expires_at - row.created_at == timedelta(hours=24)


@override_settings(MCPADMIN_IDEMPOTENCY_TTL_SECONDS=60)
def test_the_lifetime_is_a_setting_and_an_expired_key_is_a_new_request(tenant, admin_api):
    first = create(admin_api, {"title": "t"}, "k")
    row = TaskIdempotencyKey.objects.get(tenant=tenant)
    assert row.expires_at - row.created_at == timedelta(seconds=60)
    TaskIdempotencyKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    second = create(admin_api, {"title": "other body is fine now"}, "k")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in second
    assert TaskIdempotencyKey.objects.get(tenant=tenant).task_id == Task.objects.get(pk=second.json()["id"]).pk


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey", "caf\u00e9"])
def test_a_bad_idempotency_key_is_a_400_naming_the_header(admin_api, key):
    response = admin_api.post(
        "/api/v1/tasks", {"title": "t"}, format="json", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "Idempotency-Key": ["The Idempotency-Key header must be 1 to 255 visible ASCII characters."]
    }
    assert Task.objects.count() == 0


def test_the_longest_key_is_accepted(admin_api):
    key = "~!" + "k" * 253
    assert create(admin_api, {"title": "t"}, key).status_code == 201
    assert create(admin_api, {"title": "t"}, key)["Idempotent-Replayed"] == "true"


def test_an_invalid_body_stores_nothing_so_a_corrected_retry_creates(tenant, admin_api):
    assert create(admin_api, {"title": ""}, "k").status_code == 400
    assert create(admin_api, {"title": "fixed"}, "k").status_code == 201
    assert TaskIdempotencyKey.objects.filter(tenant=tenant).count() == 1


def _expired_keys(tenant, count: int, *, expired: bool = True) -> None:
    task = factories.task(tenant)
    when = timezone.now() + (timedelta(hours=-1) if expired else timedelta(hours=1))
    TaskIdempotencyKey.objects.bulk_create(
        TaskIdempotencyKey(
            idempotency_key=f"{tenant.id}:{'e' if expired else 'l'}{index}",
            task=task,
            tenant=tenant,
            request_fingerprint="f",
            expires_at=when,
        )
        for index in range(count)
    )


def test_purge_deletes_only_expired_keys_in_batches(tenant, capsys):
    _expired_keys(tenant, 7)
    _expired_keys(tenant, 2, expired=False)
    assert idempotency_key_purge_expired(batch_size=3) == 7
    assert TaskIdempotencyKey.objects.filter(tenant=tenant).count() == 2
    _expired_keys(tenant, 1)
    call_command("purge_idempotency_keys", "--batch-size", "2")
    assert "deleted 1 expired idempotency key(s)" in capsys.readouterr().out
    assert TaskIdempotencyKey.objects.filter(tenant=tenant, expires_at__lte=timezone.now()).count() == 0
