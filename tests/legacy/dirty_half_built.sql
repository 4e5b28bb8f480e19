-- Dirty: golang-migrate stopped in the middle of the next migration and left version 1 dirty,
-- with half-built objects: enum types with fewer labels than mcpadmin's (one of them already
-- used by tasks.priority, holding the Go value 'normal') and an INVALID index left by a failed
-- CREATE INDEX CONCURRENTLY (embeddings holds duplicate content).
\ir base_v1.sql
INSERT INTO mcp.schema_migrations (version, dirty) VALUES (1, true);

CREATE TYPE mcp.task_status AS ENUM ('pending', 'assigned', 'in_progress', 'completed', 'failed');
CREATE TYPE mcp.task_priority AS ENUM ('low', 'normal', 'high');
ALTER TABLE mcp.tasks
    ALTER COLUMN priority DROP DEFAULT,
    ALTER COLUMN priority TYPE mcp.task_priority USING priority::mcp.task_priority,
    ALTER COLUMN priority SET DEFAULT 'normal';

\set ON_ERROR_STOP off
CREATE UNIQUE INDEX CONCURRENTLY idx_embeddings_content_hash ON mcp.embeddings (tenant_id, collection, content);
\set ON_ERROR_STOP on
