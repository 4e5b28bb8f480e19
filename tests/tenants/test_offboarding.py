"""Offboarding a tenant (`tenant_delete`, its admin action and `manage.py delete_tenant`): one transaction, nothing of
the tenant left in any table (search statistics and rate-limit counters included), the other tenant untouched."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from mcpadmin.core.errors import NotFound
from search.models import Collection
from search.services import collection_stats_fold
from tasks.services import task_delegate
from tenants.models import Tenant
from tenants.services import tenant_delete, tenant_deletion_plan
from tests import factories
from tests.search.helpers import corpus, ingest
from tests.tasks.helpers import OPERATOR
from tests.workflows.helpers import active_workflow

pytestmark = pytest.mark.django_db

#: Tables reached through a parent rather than a `tenant_id` column: the parent's ids name the tenant's rows.
THROUGH_PARENT = {
    "task_state_transitions": ("task_id", "tasks"),
    "task_delegation_history": ("task_id", "tasks"),
    "workspace_members": ("workspace_id", "workspaces"),
    "search_collection_models": ("collection_id", "search_collections"),
    "search_collection_counters": ("collection_id", "search_collections"),
    "search_term_stats": ("collection_id", "search_collections"),
    "search_postings": ("collection_id", "search_collections"),
}
#: Tables keyed by text that holds a parent's id (no foreign key at all).
KEYED_BY_TEXT = {
    "embedding_statistics": ("SELECT count(*) FROM embedding_statistics WHERE collection_id IN"
                             " (SELECT id::text FROM search_collections WHERE tenant_id = %s)"),
    "rate_limit_buckets": ("SELECT count(*) FROM rate_limit_buckets WHERE split_part(bucket, ':', 2) IN"
                           " (SELECT id::text FROM api_keys WHERE tenant_id = %s)"),
}  # fmt: skip


def query(statement: str, params: Any = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def tables_with_tenant_id() -> list[str]:
    """Every table of the schema with a `tenant_id` column, except an audit trail's (it keeps its records)."""
    return [
        table
        for (table,) in query(
            "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name) WHERE c.table_schema = 'mcp' AND c.column_name = 'tenant_id'"
            " AND t.table_type = 'BASE TABLE' ORDER BY 1"
        )
        if "event" not in table and "audit" not in table
    ]


def footprint(tenant_id: Any, parents: dict[str, list[str]]) -> dict[str, int]:
    """Rows of the tenant per table, one query per table; `parents` are the tenant's ids taken before deleting."""
    rows = {table: query(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant_id])[0][0]
            for table in tables_with_tenant_id()}  # fmt: skip
    rows["tenants"] = query("SELECT count(*) FROM tenants WHERE id = %s", [tenant_id])[0][0]
    for table, (column, parent) in THROUGH_PARENT.items():
        rows[table] = query(f"SELECT count(*) FROM {table} WHERE {column}::text = ANY(%s)", [parents[parent]])[0][0]
    rows["embedding_statistics"] = query(
        "SELECT count(*) FROM embedding_statistics WHERE collection_id = ANY(%s)", [parents["search_collections"]]
    )[0][0]
    rows["rate_limit_buckets"] = query(
        "SELECT count(*) FROM rate_limit_buckets WHERE split_part(bucket, ':', 2) = ANY(%s)", [parents["api_keys"]]
    )[0][0]
    return rows


def parent_ids(tenant_id: Any) -> dict[str, list[str]]:
    return {
        table: [str(pk) for (pk,) in query(f"SELECT id FROM {table} WHERE tenant_id = %s", [tenant_id])]
        for table in ("tasks", "workspaces", "search_collections", "api_keys")
    }


def populated(tenant: Tenant) -> Tenant:
    """A tenant with a row in every table a tenant can have rows in, written the ways clients write them."""
    issued = factories.issued_key(tenant, "admin")
    api = factories.client_for(issued.raw_key)
    busy, helper = factories.agent(tenant), factories.agent(tenant)
    factories.issued_key(tenant, "agent", agent=busy)
    created = api.post("/api/v1/tasks", {"title": "work", "assigned_agent_id": str(busy.pk)}, format="json",
                       HTTP_IDEMPOTENCY_KEY="once")  # fmt: skip
    assert created.status_code == 201, created.json()
    subtask = api.post("/api/v1/tasks", {"title": "sub", "parent_task_id": created.json()["id"]}, format="json")
    assert subtask.status_code == 201, subtask.json()
    task_delegate(actor=OPERATOR, task_id=created.json()["id"], to_agent_id=helper.pk, delegation_type="consultation")
    workspace = factories.workspace(tenant, owner=busy)
    assert api.post(f"/api/v1/workspaces/{workspace.pk}/members", {"agent_id": str(helper.pk), "role": "viewer"},
                    format="json").status_code == 201  # fmt: skip
    ingest(tenant, "papers", corpus(6))
    collection_stats_fold(collection_id=Collection.objects.get(tenant=tenant, name="papers").pk)
    workflow_id = active_workflow(api, "sequential", {"steps": [{"id": "one", "task": {"title": "t"}}]})
    ran = api.post(f"/api/v1/workflows/{workflow_id}/executions", {"input": {}}, format="json",
                   HTTP_IDEMPOTENCY_KEY="run-once")  # fmt: skip
    assert ran.status_code == 201, ran.json()
    return tenant


@pytest.fixture
def two_tenants(tenant, other_tenant) -> tuple[Tenant, Tenant]:
    return populated(tenant), populated(other_tenant)


def test_after_tenant_delete_no_table_holds_a_row_of_the_tenant_and_the_other_is_untouched(two_tenants):
    gone, kept = two_tenants
    gone_parents, kept_parents = parent_ids(gone.pk), parent_ids(kept.pk)
    before = footprint(gone.pk, gone_parents)
    kept_before = footprint(kept.pk, kept_parents)
    everywhere = (*THROUGH_PARENT, *KEYED_BY_TEXT, "tasks", "embeddings", "task_idempotency_keys",
                  "workflow_execution_idempotency_keys")  # fmt: skip
    assert all(before[table] > 0 for table in everywhere), before

    plan = tenant_deletion_plan(tenant_id=gone.pk)
    deleted = tenant_delete(tenant_id=gone.pk)

    assert deleted == plan
    assert {table: rows for table, rows in before.items() if rows} == deleted, "the plan counts every row that goes"
    after = footprint(gone.pk, gone_parents)
    assert {table: rows for table, rows in after.items() if rows} == {}, after
    assert footprint(kept.pk, kept_parents) == kept_before


def test_the_plan_counts_without_deleting_and_never_names_an_audit_trail(two_tenants):
    gone, _ = two_tenants
    plan = tenant_deletion_plan(tenant_id=gone.pk)
    assert plan["tenants"] == 1
    assert plan["embedding_statistics"] == 1
    assert plan["rate_limit_buckets"] >= 1
    assert not [table for table in plan if "event" in table or "audit" in table]
    assert Tenant.objects.filter(pk=gone.pk).exists()


def test_an_unknown_tenant_is_not_found(db):
    with pytest.raises(NotFound):
        tenant_delete(tenant_id="00000000-0000-0000-0000-000000000000")


def test_the_admin_action_shows_what_goes_then_deletes_through_the_service(admin_client, two_tenants):
    gone, kept = two_tenants
    changelist = reverse("admin:tenants_tenant_changelist")
    actions = admin_client.get(changelist).content.decode()
    assert 'value="offboard_selected"' in actions
    assert 'value="delete_selected"' not in actions, "Django's own delete (which failed on permissions) is gone"

    page = admin_client.post(changelist, {"action": "offboard_selected", "index": 0, "_selected_action": [gone.pk]})
    assert page.status_code == 200
    text = page.content.decode()
    plan = tenant_deletion_plan(tenant_id=gone.pk)
    for table, rows in plan.items():
        assert f"<td>{table}</td><td>{rows}</td>" in text
    assert Tenant.objects.filter(pk=gone.pk).exists(), "the first step only shows"

    done = admin_client.post(
        changelist, {"action": "offboard_selected", "index": 0, "_selected_action": [gone.pk], "confirm": "yes"}
    )
    assert done.status_code == 302
    assert [str(m) for m in get_messages(done.wsgi_request)] == ["1 tenant(s) deleted, with everything of theirs."]
    assert not Tenant.objects.filter(pk=gone.pk).exists()
    assert Tenant.objects.filter(pk=kept.pk).exists()


def test_the_change_pages_delete_link_leads_to_the_same_confirmation(admin_client, tenant):
    page = admin_client.get(reverse("admin:tenants_tenant_delete", args=[tenant.pk]))
    assert page.status_code == 200
    assert "<td>tenants</td><td>1</td>" in page.content.decode()
    assert 'name="confirm" value="yes"' in page.content.decode()
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_the_command_prints_the_counts_and_deletes_only_with_confirm(two_tenants):
    gone, kept = two_tenants
    out = io.StringIO()
    with pytest.raises(CommandError, match="would be deleted; nothing was") as refused:
        call_command("delete_tenant", str(gone.pk), stdout=out)
    assert refused.value.returncode == 1
    assert "embedding_statistics" in out.getvalue()
    assert "tenants" in out.getvalue()
    assert Tenant.objects.filter(pk=gone.pk).exists()

    out = io.StringIO()
    call_command("delete_tenant", str(gone.pk), "--confirm", stdout=out)
    assert f"Deleted tenant {gone.pk}" in out.getvalue()
    assert not Tenant.objects.filter(pk=gone.pk).exists()
    assert Tenant.objects.filter(pk=kept.pk).exists()

    with pytest.raises(CommandError, match="not a tenant id"):
        call_command("delete_tenant", "acme", "--confirm")
