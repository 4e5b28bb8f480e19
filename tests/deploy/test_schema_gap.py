"""manage.py schema_gap: every kind of gap is found, a migrated database has none, and it is fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import connections

from deploy import scratch
from deploy.catalog import KEEP_MARKER
from search.vector_indexes import GRAPH_COMMENT, GraphKey, graph_create_sql
from tests.deploy.conftest import execute, run

EMBEDDED = bool(settings.DATABASES["default"].get("EMBEDDED_PGDATA"))
EXTERNAL_ID_INDEX = "embeddings_tenant_collection_external_id_key"
BM25 = "bm25_score(term_freq double precision, doc_freq integer, total_docs integer, doc_length integer, " \
    "avg_doc_length double precision, k1 double precision, b double precision)"  # fmt: skip


def names(entries: list[dict]) -> set[tuple[str, str]]:
    return {(entry["kind"], entry["name"]) for entry in entries}


@pytest.mark.django_db  # pytest-django creates the test database only for sessions that have such tests
def test_the_freshly_migrated_test_database_has_no_gap():
    """What CI runs: `manage.py schema_gap` on the test database, which `migrate` built, exits 0."""
    test_database = connections["default"].settings_dict["NAME"]
    assert test_database.startswith("test_")
    result = subprocess.run(
        [sys.executable, "manage.py", "schema_gap"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "MCPADMIN_DB_NAME": test_database},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith(f'Schema gap of database "{test_database}"')
    assert result.stdout.splitlines()[-1] == "result: no gap"


def test_an_empty_database_lacks_everything(new_database):
    """(How long the check takes is a figure for bench/, not an assertion: it took 19 s here on a loaded machine.)"""
    alias = new_database()
    result = run("schema_gap", "--database", alias, "--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["gap"] is True
    missing = names(report["missing"])
    for table in ("tenants", "api_keys", "tasks", "embeddings", "embedding_statistics", "django_migrations"):
        assert ("table", table) in missing
    assert ("type", "task_status") in missing
    assert ("function", BM25) in missing
    assert ("extension", "vector") in missing
    assert not any(kind == "column" for kind, _ in missing), "a missing table's columns are folded into it"
    assert "apikeys.0001_initial" in report["migrations"]["not_applied"]


def test_each_kind_of_gap_is_found_and_reported_by_kind(migrated_database):
    alias = migrated_database
    _break_the_schema(alias)

    result = run("schema_gap", "--database", alias, "--format", "json")

    assert result.code == 1
    report = json.loads(result.out)
    assert names(report["missing"]) == {("column", "tasks.workflow_step"), ("index", "idx_embeddings_task_type")}
    assert names(report["extra"]) == {("table", "sidecar")}
    changes = {(d["kind"], d["name"]): set(d["changes"]) for d in report["different"]}
    assert changes == {
        ("column", "tasks.max_retries"): {"default"},
        ("type", "task_priority"): {"enum"},
        ("index", EXTERNAL_ID_INDEX): {"valid"},
        ("function", BM25): {"body"},
    }
    assert names(report["kept"]) == {("column", "tasks.legacy_note")}
    migrations = report["migrations"]
    assert migrations["not_in_code"] == ["oldapp.0001_initial"]
    assert migrations["not_applied"] == ["sessions.0001_initial"]
    assert migrations["golang_migrate"] == {"schema": "mcp", "version": 1, "dirty": True}


def test_collection_graphs_are_kept_not_gaps(migrated_database):
    """A collection graph is data-driven (search/vector_indexes.py): its comment marks it kept, never extra."""
    alias = migrated_database
    key = GraphKey(7, uuid.uuid4(), "docs", "m", 384)
    execute(alias, "SET search_path TO mcp, public")
    for statement in graph_create_sql(key, concurrently=False):
        execute(alias, statement)
    execute(alias, "RESET search_path")
    result = run("schema_gap", "--database", alias, "--format", "json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    assert names(report["kept"]) == {("index", key.name)}
    assert GRAPH_COMMENT.startswith(KEEP_MARKER)


def test_the_text_report_has_one_object_per_line_grouped(migrated_database):
    alias = migrated_database
    _break_the_schema(alias)

    result = run("schema_gap", "--database", alias)

    assert result.code == 1
    lines = result.out.splitlines()
    headers = [line for line in lines if not line.startswith(" ")][1:]
    assert headers == [
        "missing (2):",
        "extra (1):",
        "different (4):",
        "migrations (3):",
        "kept on purpose (marked mcpadmin:keep), not a gap (1):",
        "result: gap: 2 missing, 1 extra, 4 different, 3 migration problem(s)",
    ]
    assert "  column tasks.workflow_step: character varying(255)" in lines
    assert "  column tasks.max_retries: default 5 (expected 3)" in lines
    assert (
        f"  index {EXTERNAL_ID_INDEX}: INVALID: left by a failed CREATE INDEX CONCURRENTLY (drop it and build it again)"
        in lines
    )
    assert f"  function {BM25}: body differs" in lines
    assert (
        "  type task_priority: enum [low, medium, high, critical, urgent] (expected [low, medium, high, critical])"
        in lines
    )
    golang = "legacy golang-migrate table mcp.schema_migrations: version 1, dirty"
    assert f"  {golang} (a failed run; adopt_legacy_db cleans it)" in lines
    assert run("schema_gap", "--database", alias).out == result.out, "the report is deterministic"


def test_sql_creates_the_missing_objects_from_the_expected_definitions(migrated_database):
    alias = migrated_database
    execute(alias, "ALTER TABLE mcp.tasks DROP COLUMN workflow_step")
    execute(alias, "DROP INDEX mcp.idx_embeddings_task_type")

    result = run("schema_gap", "--database", alias, "--sql")

    assert result.code == 1
    assert "ALTER TABLE mcp.tasks ADD COLUMN workflow_step character varying(255);" in result.out
    assert "CREATE INDEX idx_embeddings_task_type ON mcp.embeddings USING btree (task_type);" in result.out
    with connections[alias].cursor() as cursor:
        cursor.execute(result.out)
    assert run("schema_gap", "--database", alias).code == 0


def test_the_scratch_database_is_dropped_even_when_the_migrations_fail(migrated_database, monkeypatch):
    alias = migrated_database

    def failing_migrate(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(scratch, "call_command", failing_migrate)
    result = run("schema_gap", "--database", alias)

    assert result.code == 2
    assert "could not check" in result.err
    assert "boom" in result.err
    scratch_prefix = scratch.scratch_name(alias, "gap")
    assert not execute(alias, "SELECT datname FROM pg_database WHERE datname = %s", [scratch_prefix])


@pytest.mark.skipif(not EMBEDDED, reason="logs in as another role without a password: the embedded server only")
def test_without_createdb_it_cannot_check_and_says_which_privilege_is_missing(migrated_database):
    role = "mcpadmin_test_no_createdb"
    execute(migrated_database, f'DROP ROLE IF EXISTS "{role}"')
    execute(migrated_database, f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        dbname = connections[migrated_database].settings_dict["NAME"]
        with scratch.database_alias(dbname, based_on=migrated_database) as alias:
            connections.settings[alias]["USER"] = role
            result = run("schema_gap", "--database", alias)
    finally:
        execute(migrated_database, f'DROP ROLE "{role}"')
    assert result.code == 2
    assert "CREATEDB" in result.err


def _break_the_schema(alias: str) -> None:
    """One gap of each kind, plus a kept column and migration-state problems."""
    statements = [
        # missing: a column, an index
        "ALTER TABLE mcp.tasks DROP COLUMN workflow_step",
        "DROP INDEX mcp.idx_embeddings_task_type",
        # different: a default, an enum label, a function body
        "ALTER TABLE mcp.tasks ALTER COLUMN max_retries SET DEFAULT 5",
        "ALTER TYPE mcp.task_priority ADD VALUE 'urgent'",
        # extra, and kept on purpose
        "CREATE TABLE mcp.sidecar (id integer)",
        "ALTER TABLE mcp.tasks ADD COLUMN legacy_note text",
        f"COMMENT ON COLUMN mcp.tasks.legacy_note IS '{KEEP_MARKER} another service writes it'",
        # migration state
        "INSERT INTO mcp.django_migrations (app, name, applied) VALUES ('oldapp', '0001_initial', now())",
        "DELETE FROM mcp.django_migrations WHERE app = 'sessions'",
        "CREATE TABLE mcp.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
        "INSERT INTO mcp.schema_migrations VALUES (1, true)",
    ]
    for statement in statements:
        execute(alias, statement)
    [(body,)] = execute(alias, "SELECT pg_get_functiondef('mcp.bm25_score'::regproc)")
    execute(alias, body.replace("RETURN 0.0;", "RETURN -1.0;"))
    _leave_an_invalid_index(alias)


def _leave_an_invalid_index(alias: str) -> None:
    """What a failed CREATE INDEX CONCURRENTLY leaves: the index, marked invalid."""
    definition = execute(alias, "SELECT pg_get_indexdef(%s::regclass)", [f"mcp.{EXTERNAL_ID_INDEX}"])[0][0]
    execute(alias, f"DROP INDEX mcp.{EXTERNAL_ID_INDEX}")
    execute(alias, "INSERT INTO mcp.tenants (id, name) VALUES ('11111111-1111-4111-8111-111111111111', 'acme')")
    for _ in range(2):
        execute(
            alias,
            "INSERT INTO mcp.embeddings (tenant_id, collection, external_id, content, content_hash) "
            "VALUES ('11111111-1111-4111-8111-111111111111', 'docs', 'same', 'text', 'hash')",
        )
    with pytest.raises(Exception, match="could not create unique index"):
        execute(alias, definition.replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY"))
    assert execute(
        alias, "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", [f"mcp.{EXTERNAL_ID_INDEX}"]
    ) == [(False,)]
