"""A trigger that records every status change of a task that did not come through the task service.

The service (tasks.services._change_status) announces each change it is
about to make in the transaction-local setting `mcp.task_status_change`
(`<task id>:<new status>`) and writes the history row itself; the trigger
consumes the announcement. Any other UPDATE that changes `status` (another
service's SQL, a console session, a forgotten code path) gets a
`task_state_transitions` row written by the trigger, in the same
transaction, with `metadata.source = "database"`, and `status_changed_at`
is set so auto-escalation's clock stays right. Recording rather than
forbidding: other services share this database and must keep working.
"""

from django.db import migrations

GUARD_SQL = """
CREATE FUNCTION mcp.tasks_status_change_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('mcp.task_status_change', true) = NEW.id::text || ':' || NEW.status::text THEN
        PERFORM set_config('mcp.task_status_change', '', true);
        RETURN NEW;
    END IF;
    NEW.status_changed_at := clock_timestamp();
    INSERT INTO mcp.task_state_transitions
        (id, task_id, from_status, to_status, transitioned_by, reason, metadata, created_at)
    VALUES (
        gen_random_uuid(), NEW.id, OLD.status, NEW.status, NULL,
        'status changed outside the task service',
        jsonb_build_object(
            'source', 'database',
            'database_user', current_user::text,
            'application_name', current_setting('application_name', true)
        ),
        clock_timestamp()
    );
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_status_change_guard
    BEFORE UPDATE OF status ON mcp.tasks
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION mcp.tasks_status_change_guard();
"""

DROP_SQL = """
DROP TRIGGER tasks_status_change_guard ON mcp.tasks;
DROP FUNCTION mcp.tasks_status_change_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0003_idempotency_replay")]

    operations = [migrations.RunSQL(sql=GUARD_SQL, reverse_sql=DROP_SQL)]
