"""A workspace always keeps at least one owner, whoever writes to the database.

Deferred constraint triggers check at commit, so a transaction may create a workspace and
then its owner, or hand ownership over, in any order. Deleting a workspace (or its tenant)
removes its members without complaint.
"""

from django.db import migrations

GUARD_SQL = """
CREATE FUNCTION mcp.workspace_keeps_an_owner() RETURNS trigger AS $$
DECLARE
    ws uuid;
BEGIN
    IF TG_TABLE_NAME = 'workspaces' THEN
        ws := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        ws := OLD.workspace_id;
    ELSE
        ws := NEW.workspace_id;
    END IF;
    IF EXISTS (SELECT 1 FROM mcp.workspaces WHERE id = ws)
       AND NOT EXISTS (SELECT 1 FROM mcp.workspace_members WHERE workspace_id = ws AND role = 'owner') THEN
        RAISE EXCEPTION 'workspace % must keep at least one owner', ws USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER workspaces_need_an_owner
    AFTER INSERT ON mcp.workspaces DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION mcp.workspace_keeps_an_owner();

CREATE CONSTRAINT TRIGGER workspace_members_keep_an_owner
    AFTER UPDATE OR DELETE ON mcp.workspace_members DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION mcp.workspace_keeps_an_owner();
"""

DROP_SQL = """
DROP TRIGGER workspace_members_keep_an_owner ON mcp.workspace_members;
DROP TRIGGER workspaces_need_an_owner ON mcp.workspaces;
DROP FUNCTION mcp.workspace_keeps_an_owner();
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_tenant_config_origins_index")]

    operations = [migrations.RunSQL(GUARD_SQL, DROP_SQL)]
