-- Columns, a table, an index, a function and a trigger of the Go platform's own, which
-- mcpadmin does not know. The columns and the table hold data that adoption must keep.
\ir base_v1.sql
INSERT INTO mcp.schema_migrations (version, dirty) VALUES (1, true);

ALTER TABLE mcp.api_keys ADD COLUMN created_by VARCHAR(255) NOT NULL DEFAULT 'system';
ALTER TABLE mcp.api_keys ALTER COLUMN created_by DROP DEFAULT;
ALTER TABLE mcp.api_keys ADD COLUMN scopes TEXT[];
UPDATE mcp.api_keys SET created_by = 'alice', scopes = '{read,write}' WHERE type = 'personal';

ALTER TABLE mcp.tasks ADD COLUMN external_ref TEXT;
CREATE INDEX idx_tasks_external_ref ON mcp.tasks (external_ref);
UPDATE mcp.tasks SET external_ref = 'JIRA-' || right(id::text, 2);

CREATE TABLE mcp.audit_log (
    id BIGSERIAL PRIMARY KEY,
    action TEXT NOT NULL,
    api_key_id UUID REFERENCES mcp.api_keys (id),
    at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO mcp.audit_log (action, api_key_id, at) VALUES
    ('login', 'a0000000-0000-4000-8000-000000000001', '2024-03-01 10:00:00+00'),
    ('revoke', NULL, '2024-03-02 10:00:00+00');

CREATE FUNCTION mcp.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_tasks_touch BEFORE UPDATE ON mcp.tasks FOR EACH ROW EXECUTE FUNCTION mcp.touch_updated_at();
