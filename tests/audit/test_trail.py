"""Every write path leaves exactly the expected audit rows, with its actor; no secret ever reaches the trail."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from agents.models import Agent
from audit.context import audit_context
from audit.models import AuditEvent
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def summary(found):
    return [(e.object_type, e.action, e.object_id) for e in found]


def test_an_api_write_is_one_event_with_the_key_the_request_id_and_the_client_address(tenant, admin_key, admin_api):
    request_id = "req-" + uuid.uuid4().hex
    response = admin_api.post(
        "/api/v1/tasks", {"title": "audited", "input_data": {"x": 1}}, format="json", HTTP_X_REQUEST_ID=request_id
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == request_id
    task_id = response.json()["id"]

    written = events(request_id=request_id)
    assert summary(written) == [("tasks", "insert", task_id)]
    event = written[0]
    assert event.tenant_id == tenant.id
    assert (event.source, event.key_id, event.key_type) == ("api", admin_key.key.id, "admin")
    assert event.client_ip == "127.0.0.1"
    assert event.operator is None
    assert event.context_id is not None
    assert {"title", "status", "priority", "input_data"} <= set(event.changed_fields)
    assert event.new_values["title"] == "audited"
    assert "input_data" not in event.new_values, "task payloads are named, never copied"
    assert event.old_values is None


def test_an_api_update_records_the_changed_fields_with_their_values(tenant, admin_key, admin_api):
    agent = factories.agent(tenant)
    response = admin_api.patch(
        f"/api/v1/agents/{agent.pk}", {"teams": ["finance"]}, format="json", HTTP_X_REQUEST_ID="patch-1"
    )
    assert response.status_code == 200, response.content
    (event,) = events(request_id="patch-1")
    assert (event.object_type, event.object_id, event.action) == ("agents", str(agent.pk), "update")
    assert event.changed_fields == ["teams"]
    assert (event.old_values, event.new_values) == ({"teams": []}, {"teams": ["finance"]})
    assert event.key_id == admin_key.key.id


def test_a_request_without_a_usable_request_id_gets_one(admin_api):
    response = admin_api.post("/api/v1/tasks", {"title": "t"}, format="json", HTTP_X_REQUEST_ID="bad id\n")
    generated = response["X-Request-ID"]
    assert generated != "bad id\n"
    assert str(uuid.UUID(generated)) == generated, "a new UUID"
    assert summary(events(request_id=generated)) == [("tasks", "insert", response.json()["id"])]


def test_reads_and_refused_writes_leave_no_event(tenant, admin_api):
    factories.agent(tenant)
    before = AuditEvent.objects.count()
    assert admin_api.get("/api/v1/agents").status_code == 200
    assert admin_api.post("/api/v1/tasks", {"title": ""}, format="json").status_code == 400
    assert AuditEvent.objects.count() == before


def test_an_admin_action_is_the_operators(admin_client, admin_user, tenant):
    agent = factories.agent(tenant)
    response = admin_client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "disable_selected", "_selected_action": [agent.pk]},
        HTTP_X_REQUEST_ID="admin-1",
    )
    assert response.status_code == 302
    (event,) = events(request_id="admin-1")
    assert (event.object_type, event.object_id, event.action) == ("agents", str(agent.pk), "update")
    assert event.changed_fields == ["status"]
    assert event.new_values == {"status": "disabled"}
    assert (event.source, event.operator, event.user_id) == ("admin", admin_user.username, admin_user.pk)
    assert event.key_id is None
    assert event.tenant_id == tenant.id


def test_a_management_command_is_named(capsys):
    name = factories.unique("cmd-tenant")
    call_command("create_tenant", name)
    written = [e for e in events(source="command") if e.operator == "create_tenant"]
    assert {(e.object_type, e.action) for e in written} == {("tenants", "insert"), ("tenant_config", "insert")}
    assert len(written) == 2
    assert written[0].tenant_id == written[1].tenant_id
    assert all(e.key_id is None and e.request_id is None for e in written)
    assert len({e.context_id for e in written}) == 1, "one command run is one context"


def test_plain_sql_of_another_writer_is_recorded_without_an_actor(tenant):
    task = factories.task(tenant)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL application_name = 'billing-service'")
        cursor.execute("UPDATE tasks SET title = 'renamed by billing' WHERE id = %s", [task.pk])
        cursor.execute("DELETE FROM tasks WHERE id = %s", [task.pk])
    written = events(object_type="tasks", object_id=str(task.pk), application_name="billing-service")
    assert [(e.action, e.changed_fields) for e in written] == [("update", ["title"]), ("delete", [])]
    update, delete = written
    assert update.new_values == {"title": "renamed by billing"}
    assert delete.old_values["title"] == "renamed by billing"
    for event in written:
        assert (event.source, event.key_id, event.operator, event.request_id, event.context_id) == (None,) * 5
        assert event.db_user
        assert event.tenant_id == tenant.id


def test_an_update_of_ignored_columns_only_records_nothing(tenant):
    agent = factories.agent(tenant)
    before = AuditEvent.objects.count()
    Agent.objects.filter(pk=agent.pk).update(last_seen_at="2026-01-01T00:00:00Z")
    Agent.objects.filter(pk=agent.pk).update(name=agent.name)  # no change at all
    assert AuditEvent.objects.count() == before


def test_events_survive_the_deletion_of_what_they_describe():
    tenant = factories.service_tenant()
    task = factories.task(tenant)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tasks WHERE tenant_id = %s", [tenant.id])
        cursor.execute("DELETE FROM tenant_config WHERE tenant_id = %s", [tenant.id])
        cursor.execute("DELETE FROM tenants WHERE id = %s", [tenant.id])
    kept = events(tenant_id=tenant.id)
    assert ("tasks", "insert", str(task.pk)) in summary(kept)
    assert ("tasks", "delete", str(task.pk)) in summary(kept)
    assert ("tenants", "delete", str(tenant.id)) in summary(kept)
    assert not Task.objects.filter(pk=task.pk).exists()


def test_the_context_names_the_writer_only_inside_it(tenant):
    with audit_context(source="command", operator="inside"):
        inside = factories.agent(tenant)
    outside = factories.agent(tenant)
    (first,) = events(object_id=str(inside.pk))
    (second,) = events(object_id=str(outside.pk))
    assert (first.source, first.operator) == ("command", "inside")
    assert (second.source, second.operator) == (None, None)


def test_no_secret_reaches_the_audit_trail(tenant, admin_api, sql):
    token = "ghp_AuditNeverSeesThis" + uuid.uuid4().hex
    assert (
        admin_api.put("/api/v1/tenant-config/service-tokens/github", {"token": token}, format="json").status_code == 200
    )
    issued = admin_api.post("/api/v1/api-keys", {"name": "child", "key_type": "service"}, format="json")
    assert issued.status_code == 201, issued.content
    child = issued.json()
    rotated = admin_api.post(f"/api/v1/api-keys/{child['id']}/rotate", {}, format="json")
    assert rotated.status_code in (200, 201), rotated.content
    raw_keys = [child["key"], rotated.json()["key"]]
    hashes = [row[0] for row in sql("SELECT key_hash FROM api_keys WHERE tenant_id = %s", [tenant.id])]
    (stored_tokens,) = sql("SELECT service_tokens::text FROM tenant_config WHERE tenant_id = %s", [tenant.id])[0]
    ciphertexts = [
        value
        for entry in json.loads(stored_tokens).values()
        for value in (entry.values() if isinstance(entry, dict) else [entry])
        if isinstance(value, str) and len(value) >= 16
    ]
    assert ciphertexts, "the stored token has a ciphertext to look for"

    trail = [row[0] for row in sql("SELECT audit_events::text FROM audit_events WHERE tenant_id = %s", [tenant.id])]
    assert any("key_hash" in row for row in trail), "key writes are recorded (by column name)"
    assert any("service_tokens" in row for row in trail), "token writes are recorded (by column name)"
    for secret in [token, token[-12:], *raw_keys, *hashes, *ciphertexts]:
        assert not [row for row in trail if secret in row], f"{secret[:12]}… is in the audit trail"
