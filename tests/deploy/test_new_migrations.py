"""A migration that lands tomorrow with new kinds of objects needs no change to schema_gap or adopt_legacy_db."""

from __future__ import annotations

import pytest

from tests.deploy.conftest import execute, run


@pytest.fixture
def probe_app(settings):
    """tests.deploy.probe_app installed: a column with a CHECK, a trigger and its function, a deferred
    constraint trigger, row-level security with a policy, a view, a domain, a sequence, an SQL-standard
    function body, an UNLOGGED table, an index built concurrently."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.deploy.probe_app"]


def test_schema_gap_and_adoption_follow_new_migrations(probe_app, new_database, legacy_database):
    migrated = new_database()
    assert run("migrate", "--database", migrated).code == 0
    assert run("schema_gap", "--database", migrated).code == 0

    legacy = legacy_database("extra_columns")  # it has a trigger of its own on tasks, too
    assert run("adopt_legacy_db", "--database", legacy, "--apply").code == 0
    assert run("schema_gap", "--database", legacy).code == 0
    assert execute(legacy, "SELECT DISTINCT kind FROM mcp.agents") == [("worker",)]
    assert execute(legacy, "SELECT relpersistence FROM pg_class WHERE oid = 'mcp.probe_counters'::regclass") == [("u",)]

    execute(legacy, "DROP TRIGGER tasks_touch ON mcp.tasks")
    execute(legacy, "ALTER TABLE mcp.tasks DISABLE ROW LEVEL SECURITY")
    execute(legacy, "CREATE OR REPLACE VIEW mcp.open_tasks AS SELECT id, title FROM mcp.tasks")
    execute(legacy, "ALTER TABLE mcp.probe_counters SET LOGGED")
    execute(legacy, "DROP TRIGGER tasks_checked ON mcp.tasks")
    report = run("schema_gap", "--database", legacy).out.splitlines()
    assert "missing (2):" in report
    assert "  trigger tasks.tasks_checked: CREATE CONSTRAINT TRIGGER tasks_checked AFTER INSERT ON mcp.tasks " \
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tasks_checked()" in report  # fmt: skip
    assert "  table probe_counters: unlogged False (expected True)" in report
    assert "  trigger tasks.tasks_touch: CREATE TRIGGER tasks_touch BEFORE UPDATE ON mcp.tasks FOR EACH ROW " \
        "EXECUTE FUNCTION tasks_touch()" in report  # fmt: skip
    assert "  table tasks: row_level_security False (expected True)" in report
    assert any(line.startswith("  view open_tasks: definition") for line in report)
