-- Values no default mapping knows: a task 'on_hold' (status) and one 'urgent' (priority).
\ir base_v1.sql
INSERT INTO mcp.schema_migrations (version, dirty) VALUES (1, true);

INSERT INTO mcp.tasks (id, tenant_id, title, status, priority) VALUES
    ('c0000000-0000-4000-8000-000000000010', '11111111-1111-4111-8111-111111111111', 'parked task',
     'on_hold', 'urgent'),
    ('c0000000-0000-4000-8000-000000000011', '11111111-1111-4111-8111-111111111111', 'another parked task',
     'on_hold', 'normal');
