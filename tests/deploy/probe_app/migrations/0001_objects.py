from django.db import migrations

SQL = r"""
ALTER TABLE mcp.agents ADD COLUMN kind varchar(20) NOT NULL DEFAULT 'worker'
    CONSTRAINT agents_kind_check CHECK (kind IN ('worker', 'bot'));
CREATE FUNCTION mcp.tasks_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tasks_touch BEFORE UPDATE ON mcp.tasks FOR EACH ROW EXECUTE FUNCTION mcp.tasks_touch();
ALTER TABLE mcp.tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tasks_tenant ON mcp.tasks USING (tenant_id::text = current_setting('mcp.tenant', true));
CREATE VIEW mcp.open_tasks AS SELECT id, title FROM mcp.tasks WHERE status IN ('pending', 'assigned');
CREATE DOMAIN mcp.positive_int AS integer CHECK (VALUE > 0);
CREATE SEQUENCE mcp.ticket_seq START 100;
CREATE FUNCTION mcp.next_ticket(step mcp.positive_int) RETURNS bigint LANGUAGE sql
    RETURN nextval('mcp.ticket_seq') + step - 1;
CREATE UNLOGGED TABLE mcp.probe_counters (name text PRIMARY KEY, hits integer NOT NULL DEFAULT 0);
CREATE FUNCTION mcp.tasks_checked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;
CREATE CONSTRAINT TRIGGER tasks_checked AFTER INSERT ON mcp.tasks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION mcp.tasks_checked();
"""

REVERSE_SQL = """
DROP TRIGGER tasks_checked ON mcp.tasks;
DROP FUNCTION mcp.tasks_checked();
DROP TABLE mcp.probe_counters;
DROP FUNCTION mcp.next_ticket(mcp.positive_int);
DROP SEQUENCE mcp.ticket_seq;
DROP DOMAIN mcp.positive_int;
DROP VIEW mcp.open_tasks;
DROP POLICY tasks_tenant ON mcp.tasks;
ALTER TABLE mcp.tasks DISABLE ROW LEVEL SECURITY;
DROP TRIGGER tasks_touch ON mcp.tasks;
DROP FUNCTION mcp.tasks_touch();
ALTER TABLE mcp.agents DROP COLUMN kind;
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0002_task_workspace_and_creator")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
