-- Clean but old: golang-migrate finished version 1 (not dirty); everything after it is missing.
\ir base_v1.sql
INSERT INTO mcp.schema_migrations (version, dirty) VALUES (1, false);
