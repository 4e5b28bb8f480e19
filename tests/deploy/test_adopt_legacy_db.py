"""manage.py adopt_legacy_db on the legacy databases of tests/legacy/: all of it, or nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from apikeys.models import ApiKey
from deploy.legacy import legacy_key_prefix
from mcpadmin.db.pgtools import pg_dump_database
from tasks.models import Task
from tests.deploy.conftest import execute, run

#: The raw keys of tests/legacy/base_v1.sql (their key_hash is the lowercase hex SHA-256 of these).
RAW_KEYS = {
    "a0000000-0000-4000-8000-000000000001": "sk_legacy_standard_0001",
    "a0000000-0000-4000-8000-000000000002": "sk_legacy_service_0002",
    "a0000000-0000-4000-8000-000000000003": "sk_legacy_personal_0003",
    "a0000000-0000-4000-8000-000000000004": "sk_legacy_temporary_0004",
    "a0000000-0000-4000-8000-000000000005": "sk_legacy_temporary_0005",
}
TENANTS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]


def dump(alias: str) -> str:
    return pg_dump_database(alias, dbname=connections[alias].settings_dict["NAME"])


def rows(alias: str, table: str, columns: str) -> dict[str, tuple]:
    """{id: (columns...)} of a table, to compare legacy data before and after."""
    return {str(row[0]): row[1:] for row in execute(alias, f"SELECT id, {columns} FROM mcp.{table}")}


#: Legacy columns whose values adoption keeps exactly (the others are mapped, filled or converted).
KEPT_DATA = {
    "api_keys": "tenant_id, name, key_hash, is_active, last_used_at, created_at",  # expires_at: see the key test
    "agents": "tenant_id, name, capabilities::text[], status, created_at",
    "tasks": "tenant_id, title, assigned_agent_id, parent_task_id, output_data, retry_count, deadline, created_at",
    "embeddings": "tenant_id, collection, external_id, content, embedding::text, dimension, created_at",
    "workflows": "tenant_id, name, workflow_type::text, status::text, definition, created_at",
}
#: Columns the platform names otherwise: the legacy `workflows.workflow_type` is the column `type`.
ADOPTED_DATA = {**KEPT_DATA, "workflows": KEPT_DATA["workflows"].replace("workflow_type::text", "type::text")}


@pytest.mark.parametrize("fixture", ["clean_old", "dirty_half_built", "extra_columns"])
def test_a_legacy_database_is_adopted_in_one_go(legacy_database, fixture):
    alias = legacy_database(fixture)
    before = {table: rows(alias, table, columns) for table, columns in KEPT_DATA.items()}
    dumped = dump(alias)

    dry_run = run("adopt_legacy_db", "--database", alias)
    assert dry_run.code == 0, dry_run.out + dry_run.err
    assert "Dry run: nothing was changed" in dry_run.out
    assert "migrations run: contenttypes.0001_initial, auth.0001_initial" in dry_run.out
    assert "migrations recorded: tenants.0001_initial" in dry_run.out
    assert dump(alias) == dumped, "a dry run changes nothing"

    applied = run("adopt_legacy_db", "--database", alias, "--apply")
    assert applied.code == 0, applied.out + applied.err
    assert "Adopted in one transaction" in applied.out

    gap = run("schema_gap", "--database", alias)
    assert gap.code == 0, gap.out
    executor = MigrationExecutor(connections[alias])
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == [], "migrate has nothing to do"
    migrate = run("migrate", "--database", alias)
    assert "No migrations to apply." in migrate.out
    for table, columns in ADOPTED_DATA.items():
        assert rows(alias, table, columns) == before[table], f"legacy rows of {table} kept with their data"
    assert execute(alias, "SELECT version, dirty FROM mcp.schema_migrations") == [(1, False)]

    again = run("adopt_legacy_db", "--database", alias)
    assert again.code == 0
    assert again.out.startswith("Nothing to do")


def test_values_are_mapped_derived_data_computed_and_the_platform_works(legacy_database):
    alias = legacy_database("clean_old")
    assert run("adopt_legacy_db", "--database", alias, "--apply").code == 0

    statuses = dict(execute(alias, "SELECT title, status::text || '/' || priority::text FROM mcp.tasks"))
    assert statuses == {
        "pending task": "pending/medium",
        "accepted task": "assigned/high",
        "rejected task": "pending/medium",
        "timed out task": "failed/low",
        "done task": "completed/medium",  # NULL priority: the column's default
    }
    assert sorted(execute(alias, "SELECT id::text, name FROM mcp.tenants")) == [
        (tenant, f"legacy-{tenant}") for tenant in TENANTS
    ]
    assert execute(alias, "SELECT count(*) FROM mcp.tenant_config")[0][0] == len(TENANTS)

    # search data, derived by the search app's own rebuild: collections, derived columns, statistics, postings
    for content, tsvector_matches, length, frequencies, content_hash in execute(
        alias,
        "SELECT content, content_tsvector = to_tsvector('english', content), document_length, term_frequencies, "
        "content_hash FROM mcp.embeddings",
    ):
        assert tsvector_matches
        assert content_hash == hashlib.sha256(content.encode()).hexdigest()
        assert length == sum(json.loads(frequencies).values())
    docs = execute(
        alias,
        "SELECT s.total_documents, s.avg_document_length, s.term_document_counts FROM mcp.embedding_statistics s "
        "JOIN mcp.search_collections c ON s.collection_id = c.id::text WHERE c.tenant_id = %s AND c.name = 'docs'",
        [TENANTS[0]],
    )
    [(total, average, term_counts)] = docs
    assert (total, average) == (3, pytest.approx((6 + 10 + 6) / 3))
    assert json.loads(term_counts)["fox"] == 3
    assert json.loads(term_counts)["hybrid"] == 1
    postings = execute(alias, "SELECT count(DISTINCT document_id) FROM mcp.search_postings WHERE term = 'fox'")
    assert postings == [(3,)]

    # the platform's ORM reads and writes the adopted tables
    assert Task.objects.using(alias).filter(status="assigned").count() == 1
    task = Task.objects.using(alias).create(tenant_id=TENANTS[0], title="after adoption")
    assert task.priority == "medium"


def test_legacy_api_keys_keep_their_hash_and_get_a_legacy_prefix_type_and_expiry(legacy_database):
    alias = legacy_database("clean_old")
    adopted_at = datetime.now(UTC)
    assert run("adopt_legacy_db", "--database", alias, "--apply").code == 0

    keys = {str(key.id): key for key in ApiKey.objects.using(alias).all()}
    assert len(keys) == 6
    for key_id, raw in RAW_KEYS.items():
        assert ApiKey.objects.using(alias).get(key_hash=hashlib.sha256(raw.encode()).hexdigest()).id == uuid.UUID(
            key_id
        )
    assert keys["a0000000-0000-4000-8000-000000000006"].key_hash.startswith("$2a$"), "kept as is, to re-issue"

    for key_id, key in keys.items():
        assert key.key_prefix == legacy_key_prefix(uuid.UUID(key_id))
    assert {key.key_type for key in keys.values()} == {"user", "service"}
    assert keys["a0000000-0000-4000-8000-000000000002"].key_type == "service"
    assert {key_id: key.metadata.get("legacy_type") for key_id, key in keys.items()} == {
        "a0000000-0000-4000-8000-000000000001": "standard",
        "a0000000-0000-4000-8000-000000000002": "service",
        "a0000000-0000-4000-8000-000000000003": "personal",
        "a0000000-0000-4000-8000-000000000004": "temporary",
        "a0000000-0000-4000-8000-000000000005": "temporary",
        "a0000000-0000-4000-8000-000000000006": "standard",
    }
    first = keys["a0000000-0000-4000-8000-000000000001"].metadata
    assert first == {"owner": "ci", "legacy_type": "standard", "legacy_key_prefix": "sk_legacy"}

    assert keys["a0000000-0000-4000-8000-000000000004"].expires_at == datetime(2031, 5, 1, tzinfo=UTC)
    expiry = keys["a0000000-0000-4000-8000-000000000005"].expires_at
    assert adopted_at + timedelta(hours=23) < expiry < datetime.now(UTC) + timedelta(hours=25)
    assert keys["a0000000-0000-4000-8000-000000000001"].expires_at is None


def test_a_legacy_key_prefix_is_unique_32_characters_and_never_a_public_id():
    ids = [uuid.UUID(int=0), uuid.UUID(int=1), uuid.UUID(int=2**128 - 1), uuid.uuid4(), uuid.uuid4()]
    prefixes = [legacy_key_prefix(key_id) for key_id in ids]
    assert len(set(prefixes)) == len(ids)
    assert all(len(prefix) == 32 and prefix.startswith("legacy-") for prefix in prefixes)
    assert legacy_key_prefix(ids[2]) == "legacy-" + "f5lxx1zz5pnorynqglhzmsp33"


def test_extra_legacy_columns_and_tables_are_kept_and_the_platform_can_insert(legacy_database):
    alias = legacy_database("extra_columns")
    legacy_data = execute(alias, "SELECT id, created_by, scopes FROM mcp.api_keys ORDER BY id")
    audit = execute(alias, "SELECT * FROM mcp.audit_log ORDER BY id")
    assert run("adopt_legacy_db", "--database", alias, "--apply").code == 0

    assert execute(alias, "SELECT id, created_by, scopes FROM mcp.api_keys ORDER BY id") == legacy_data
    assert execute(alias, "SELECT * FROM mcp.audit_log ORDER BY id") == audit
    assert execute(alias, "SELECT count(*) FROM mcp.tasks WHERE external_ref LIKE 'JIRA-%'")[0][0] == 5
    gap = run("schema_gap", "--database", alias)
    assert "  column api_keys.created_by: character varying(255)" in gap.out.splitlines()
    assert "  table audit_log: 4 columns" in gap.out.splitlines()
    assert not execute(alias, "SELECT 1 FROM pg_trigger WHERE tgname = 'trg_tasks_touch'"), "legacy trigger dropped"
    # created_by was NOT NULL without a default: the platform's inserts, which do not know it, work
    ApiKey.objects.using(alias).create(tenant_id=TENANTS[0], name="new", key_prefix="abcdefghijkl", key_hash="0" * 64)


def test_unmappable_values_stop_adoption_before_anything_changes(legacy_database):
    alias = legacy_database("unmappable_values")
    dumped = dump(alias)

    dry_run = run("adopt_legacy_db", "--database", alias)
    applied = run("adopt_legacy_db", "--database", alias, "--apply")

    for result in (dry_run, applied):
        assert result.code == 1
        assert "Cannot adopt, nothing was changed:" in result.out
        assert "tasks.status: 2 row(s) hold 'on_hold'" in result.out
        assert "--map-status on_hold=<label>" in result.out
        assert "tasks.priority: 1 row(s) hold 'urgent'" in result.out
    assert dump(alias) == dumped

    mapped = run(
        "adopt_legacy_db", "--database", alias, "--apply", "--map-status", "on_hold=pending",
        "--map-priority", "urgent=critical", "--map-priority", "normal=low",
    )  # fmt: skip
    assert mapped.code == 0, mapped.out + mapped.err
    assert "'on_hold' -> 'pending': 2 row(s)" in mapped.out
    parked = dict(execute(alias, "SELECT title, priority::text FROM mcp.tasks WHERE status = 'pending'"))
    assert parked["parked task"] == "critical"
    assert parked["another parked task"] == "low", "--map-priority overrides a default mapping"


def test_a_failure_half_way_rolls_everything_back(legacy_database):
    """A row the new CHECK rejects fails the plan after the DDL, the Django migrations and the data steps."""
    alias = legacy_database("dirty_half_built")
    execute(alias, "UPDATE mcp.tasks SET retry_count = -1 WHERE title = 'done task'")
    dumped = dump(alias)

    result = run("adopt_legacy_db", "--database", alias, "--apply")

    assert result.code == 1
    assert "Adoption failed at: Constraints, indexes, views, triggers and policies" in result.err
    assert "tasks_retry_count_check" in result.err
    assert "the database is exactly as it was" in result.err
    assert dump(alias) == dumped
    assert run("schema_gap", "--database", alias).code == 1


def test_wrong_map_options_and_non_legacy_databases_cannot_be_checked(legacy_database, new_database, migrated_database):
    legacy = legacy_database("clean_old")
    result = run("adopt_legacy_db", "--database", legacy, "--map-status", "accepted=done")
    assert result.code == 2
    assert "'done' is not one of pending, assigned" in result.err

    empty = run("adopt_legacy_db", "--database", new_database())
    assert empty.code == 2
    assert "nothing to adopt" in empty.err

    assert run("adopt_legacy_db", "--database", migrated_database).out.startswith("Nothing to do")
    execute(migrated_database, "DROP INDEX mcp.idx_embeddings_task_type")
    drifted = run("adopt_legacy_db", "--database", migrated_database)
    assert drifted.code == 2
    assert "already managed by Django's migrations" in drifted.err
