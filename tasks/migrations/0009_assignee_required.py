"""A task is never `assigned`, `in_progress` or `delegated` without an assignee.

Deleting an agent used to set its tasks' `assigned_agent_id` to NULL whatever
their status, leaving work nobody does, which could then move on with no
assignee. First the rows already in that state go back to `pending` (what a
release does: assignee and lifecycle timestamps cleared), each with its
`task_state_transitions` row, announced to the status guard of 0004 so that
the trigger does not write a second one; then the check constraint refuses
any new one, whoever writes.

Reverse: the constraint goes; the repaired rows stay `pending` (their old
state had no assignee to give back).
"""

from django.db import migrations, models

REPAIR_SQL = """
DO $$
DECLARE
    orphan record;
BEGIN
    FOR orphan IN
        SELECT id, status FROM mcp.tasks
        WHERE assigned_agent_id IS NULL AND status IN ('assigned', 'in_progress', 'delegated')
        ORDER BY id FOR UPDATE
    LOOP
        PERFORM set_config('mcp.task_status_change', orphan.id::text || ':pending', true);
        UPDATE mcp.tasks
           SET status = 'pending', assigned_at = NULL, started_at = NULL, completed_at = NULL,
               status_changed_at = clock_timestamp(), updated_at = clock_timestamp()
         WHERE id = orphan.id;
        INSERT INTO mcp.task_state_transitions
            (id, task_id, from_status, to_status, transitioned_by, reason, metadata, created_at)
        VALUES (
            gen_random_uuid(), orphan.id, orphan.status, 'pending', NULL,
            'it had no assignee (its agent was deleted): back to pending',
            jsonb_build_object('actor', jsonb_build_object('source', 'command', 'operator', 'migration tasks.0009')),
            clock_timestamp()
        );
    END LOOP;
END
$$;
-- The history rows' deferred foreign-key checks now, so that the ALTER TABLE below has no pending trigger events.
SET CONSTRAINTS ALL IMMEDIATE;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("apikeys", "0003_alter_apikey_agent"),
        ("tasks", "0008_overview_indexes"),
        ("tenants", "0006_delete_workspace_delete_workspacemember"),
        ("workflows", "0002_workflow_type_column"),
        ("workspaces", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(sql=REPAIR_SQL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("assigned_agent__isnull", False),
                    models.Q(("status__in", ("assigned", "in_progress", "delegated")), _negated=True),
                    _connector="OR",
                ),
                name="tasks_assignee_required_check",
            ),
        ),
    ]
