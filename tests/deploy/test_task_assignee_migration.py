"""tasks.0009: rows already assigned to nobody go back to pending, each with one history row; then the constraint
holds; the migration reverses (the constraint goes, the repaired rows stay pending)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import IntegrityError

from tests.deploy.conftest import execute, run

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = "0008_overview_indexes"


def test_orphaned_tasks_are_repaired_with_history_then_refused(new_database):
    alias = new_database()
    assert run("migrate", "tasks", BEFORE, "--database", alias).code == 0
    tenant, agent = uuid.uuid4(), uuid.uuid4()
    execute(
        alias,
        "INSERT INTO tenants (id, name, is_active, created_at, updated_at) VALUES (%s, 't', true, now(), now())",
        [tenant],
    )
    execute(alias, "INSERT INTO agents (id, tenant_id, name) VALUES (%s, %s, 'a')", [agent, tenant])
    tasks = {status: uuid.uuid4() for status in ("assigned", "in_progress", "delegated")}
    for status, task in tasks.items():
        execute(
            alias,
            "INSERT INTO tasks (id, tenant_id, title, status, assigned_agent_id, assigned_at, started_at)"
            " VALUES (%s, %s, %s, %s, NULL, now(), now())",
            [task, tenant, status, status],
        )
    healthy = uuid.uuid4()
    execute(
        alias,
        "INSERT INTO tasks (id, tenant_id, title, status, assigned_agent_id) VALUES (%s, %s, 'ok', 'assigned', %s)",
        [healthy, tenant, agent],
    )

    assert run("migrate", "tasks", "0009", "--database", alias).code == 0

    rows = dict(
        execute(
            alias,
            "SELECT title, status FROM tasks WHERE id <> %s AND assigned_at IS NULL AND started_at IS NULL",
            [healthy],
        )
    )
    assert rows == {"assigned": "pending", "in_progress": "pending", "delegated": "pending"}
    history = execute(
        alias, "SELECT task_id, from_status::text, to_status::text, reason, metadata FROM task_state_transitions"
    )
    assert sorted((str(task_id), before, after) for task_id, before, after, _, _ in history) == sorted(
        (str(task), status, "pending") for status, task in tasks.items()
    ), "one row per repaired task, none written by the status guard"
    assert all(
        "no assignee" in reason and json.loads(meta)["actor"]["operator"] == "migration tasks.0009"
        for *_, reason, meta in history
    )
    assert execute(alias, "SELECT status FROM tasks WHERE id = %s", [healthy]) == [("assigned",)]
    with pytest.raises(IntegrityError, match="tasks_assignee_required_check"):
        execute(alias, "UPDATE tasks SET assigned_agent_id = NULL WHERE id = %s", [healthy])

    assert run("migrate", "tasks", BEFORE, "--database", alias).code == 0
    execute(alias, "UPDATE tasks SET assigned_agent_id = NULL WHERE id = %s", [healthy])
    assert execute(alias, "SELECT count(*) FROM tasks WHERE status = 'pending'") == [(3,)]
