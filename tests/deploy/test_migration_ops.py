"""Indexes built CONCURRENTLY resume after a failure: the invalid leftover is dropped and built again."""

from __future__ import annotations

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import NotSupportedError, ProgrammingError, connections, models, transaction
from django.db.migrations.loader import MigrationLoader

from mcpadmin.db.migration_ops import CreateIndexConcurrently, ResumableAddIndexConcurrently
from tests.deploy.conftest import execute

TENANT = "11111111-1111-4111-8111-111111111111"
#: Division by max_retries: building the index fails while a task has max_retries = 0.
RATIO_INDEX = models.Index(models.F("retry_count") / models.F("max_retries"), name="idx_tasks_retry_ratio")


def index_state(alias: str, name: str) -> str:
    rows = execute(
        alias,
        "SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
        [name],
    )
    return "absent" if not rows else "valid" if rows[0][0] else "invalid"


def apply(alias: str, operation, *, backwards: bool = False) -> None:
    """Run one operation as a non-atomic migration of the `tasks` app would."""
    connection = connections[alias]
    before = MigrationLoader(connection).project_state()
    after = before.clone()
    operation.state_forwards("tasks", after)
    with connection.schema_editor(atomic=False) as editor:
        if backwards:
            operation.database_backwards("tasks", editor, after, before)
        else:
            operation.database_forwards("tasks", editor, before, after)


@pytest.fixture
def tasks_db(migrated_database):
    execute(migrated_database, "INSERT INTO mcp.tenants (id, name) VALUES (%s, 'acme')", [TENANT])
    execute(migrated_database, "INSERT INTO mcp.tasks (tenant_id, title, max_retries) VALUES (%s, 'a', 0)", [TENANT])
    execute(migrated_database, "INSERT INTO mcp.tasks (tenant_id, title, max_retries) VALUES (%s, 'a', 3)", [TENANT])
    return migrated_database


def test_a_model_index_resumes_after_a_failed_concurrent_build(tasks_db):
    operation = ResumableAddIndexConcurrently("task", RATIO_INDEX)

    with pytest.raises(Exception, match="division by zero"):
        apply(tasks_db, operation)
    assert index_state(tasks_db, "idx_tasks_retry_ratio") == "invalid"
    with pytest.raises(ProgrammingError, match="already exists"):
        apply(tasks_db, AddIndexConcurrently("task", RATIO_INDEX))  # what Django's own operation does on a re-run

    execute(tasks_db, "UPDATE mcp.tasks SET max_retries = 1 WHERE max_retries = 0")
    apply(tasks_db, operation)
    assert index_state(tasks_db, "idx_tasks_retry_ratio") == "valid"
    apply(tasks_db, operation)  # a re-run after success changes nothing
    assert index_state(tasks_db, "idx_tasks_retry_ratio") == "valid"

    apply(tasks_db, operation, backwards=True)
    assert index_state(tasks_db, "idx_tasks_retry_ratio") == "absent"


def test_an_sql_index_resumes_after_a_failed_concurrent_build(tasks_db):
    operation = CreateIndexConcurrently("idx_tasks_title_once", "tasks", "USING btree (title)", unique=True)

    with pytest.raises(Exception, match="could not create unique index"):
        apply(tasks_db, operation)
    assert index_state(tasks_db, "idx_tasks_title_once") == "invalid"

    execute(tasks_db, "UPDATE mcp.tasks SET title = 'b' WHERE max_retries = 3")
    apply(tasks_db, operation)
    assert index_state(tasks_db, "idx_tasks_title_once") == "valid"
    apply(tasks_db, operation, backwards=True)
    assert index_state(tasks_db, "idx_tasks_title_once") == "absent"


def test_they_refuse_to_run_inside_a_transaction(tasks_db):
    connection = connections[tasks_db]
    with transaction.atomic(using=tasks_db), connection.schema_editor(atomic=False) as editor:
        for operation in (
            ResumableAddIndexConcurrently("task", RATIO_INDEX),
            CreateIndexConcurrently("idx_x", "tasks", "(title)"),
        ):
            with pytest.raises(NotSupportedError, match="atomic = False"):
                operation.database_forwards("tasks", editor, None, None)
