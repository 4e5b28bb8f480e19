-- The Go platform's schema at golang-migrate version 1 (000001_initial_schema), with rows.
-- Included by the legacy fixtures (psql \ir); not a fixture on its own.
-- Tables are named as mcpadmin's and hold a subset of its columns, with the old
-- types: api_keys.type instead of key_type, plain-text statuses and priorities
-- with the Go values (accepted, rejected, timeout, normal), bare tenant ids (no
-- tenants table), no task_* / tenant_config / embedding_statistics tables.
CREATE SCHEMA IF NOT EXISTS mcp;
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;

CREATE TABLE mcp.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);

CREATE TABLE mcp.api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    key_hash VARCHAR(255) NOT NULL UNIQUE,
    key_prefix VARCHAR(16),
    type VARCHAR(50) DEFAULT 'standard' CHECK (type IN ('standard', 'service', 'personal', 'temporary')),
    is_active BOOLEAN DEFAULT true,
    expires_at TIMESTAMP WITH TIME ZONE,
    last_used_at TIMESTAMP WITH TIME ZONE,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_api_keys_tenant ON mcp.api_keys (tenant_id);
CREATE INDEX idx_api_keys_type ON mcp.api_keys (type);

CREATE TABLE mcp.agents (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    capabilities TEXT[] DEFAULT '{}',
    status VARCHAR(50) DEFAULT 'active',
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (tenant_id, name)
);

CREATE TABLE mcp.tasks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    title VARCHAR(500) NOT NULL,
    description TEXT,
    status VARCHAR(50) NOT NULL DEFAULT 'pending',
    priority VARCHAR(20) DEFAULT 'normal',
    assigned_agent_id UUID REFERENCES mcp.agents (id),
    parent_task_id UUID REFERENCES mcp.tasks (id),
    input_data JSONB DEFAULT '{}',
    output_data JSONB,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    deadline TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
-- Same name as mcpadmin's index, another definition.
CREATE INDEX idx_tasks_tenant_status ON mcp.tasks (tenant_id, status);
CREATE INDEX idx_tasks_assigned_agent ON mcp.tasks (assigned_agent_id);

CREATE TABLE mcp.embeddings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    collection VARCHAR(255) NOT NULL,
    external_id VARCHAR(255),
    content TEXT NOT NULL,
    embedding vector(3),
    model VARCHAR(255),
    dimension INTEGER,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_embeddings_tenant_collection ON mcp.embeddings (tenant_id, collection);

CREATE TABLE mcp.workflows (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    workflow_type VARCHAR(50) NOT NULL,
    status VARCHAR(50) DEFAULT 'draft',
    definition JSONB NOT NULL DEFAULT '{}',
    version INTEGER DEFAULT 1,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (tenant_id, name)
);

-- Two tenants, known only by their ids.
-- key_hash: lowercase hex SHA-256 of the raw key (tests/deploy/test_adopt_legacy_db.py knows the raw keys),
-- except 'old bcrypt key', which the Go platform stored with bcrypt.
INSERT INTO mcp.api_keys (id, tenant_id, name, key_hash, key_prefix, type, expires_at, metadata, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'ci standard key',
     encode(sha256('sk_legacy_standard_0001'::bytea), 'hex'), 'sk_legacy', 'standard', NULL, '{"owner": "ci"}',
     '2024-01-02 10:00:00+00'),
    ('a0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'billing service',
     encode(sha256('sk_legacy_service_0002'::bytea), 'hex'), 'sk_legacy', 'service', NULL, NULL,
     '2024-01-03 10:00:00+00'),
    ('a0000000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', 'alice personal',
     encode(sha256('sk_legacy_personal_0003'::bytea), 'hex'), NULL, 'personal', NULL, '{}',
     '2024-01-04 10:00:00+00'),
    ('a0000000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', 'temporary with expiry',
     encode(sha256('sk_legacy_temporary_0004'::bytea), 'hex'), NULL, 'temporary', '2031-05-01 00:00:00+00', '{}',
     '2024-01-05 10:00:00+00'),
    ('a0000000-0000-4000-8000-000000000005', '22222222-2222-4222-8222-222222222222', 'temporary without expiry',
     encode(sha256('sk_legacy_temporary_0005'::bytea), 'hex'), NULL, 'temporary', NULL, '{}',
     '2024-01-06 10:00:00+00'),
    ('a0000000-0000-4000-8000-000000000006', '22222222-2222-4222-8222-222222222222', 'old bcrypt key',
     '$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy', NULL, 'standard', NULL, '{}',
     '2024-01-07 10:00:00+00');

INSERT INTO mcp.agents (id, tenant_id, name, description, capabilities, status) VALUES
    ('b0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'coder', NULL,
     '{code,review}', 'active'),
    ('b0000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'writer', 'writes docs',
     '{}', 'active');

INSERT INTO mcp.tasks (id, tenant_id, title, status, priority, assigned_agent_id, input_data, created_at) VALUES
    ('c0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'pending task',
     'pending', 'normal', NULL, '{"n": 1}', '2024-02-01 10:00:00+00'),
    ('c0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'accepted task',
     'accepted', 'high', 'b0000000-0000-4000-8000-000000000001', '{"n": 2}', '2024-02-02 10:00:00+00'),
    ('c0000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 'rejected task',
     'rejected', 'normal', NULL, '{}', '2024-02-03 10:00:00+00'),
    ('c0000000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', 'timed out task',
     'timeout', 'low', 'b0000000-0000-4000-8000-000000000002', NULL, '2024-02-04 10:00:00+00'),
    ('c0000000-0000-4000-8000-000000000005', '22222222-2222-4222-8222-222222222222', 'done task',
     'completed', NULL, 'b0000000-0000-4000-8000-000000000002', '{}', '2024-02-05 10:00:00+00');
UPDATE mcp.tasks SET parent_task_id = 'c0000000-0000-4000-8000-000000000001'
 WHERE id = 'c0000000-0000-4000-8000-000000000002';

INSERT INTO mcp.embeddings (id, tenant_id, collection, external_id, content, embedding, model, dimension) VALUES
    ('d0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'docs', 'doc-1',
     'The quick brown fox jumps over the lazy dog', '[0.1, 0.2, 0.3]', 'tiny-3d', 3),
    ('d0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'docs', 'doc-2',
     'Hybrid search fuses BM25 ranks with vector ranks; the fox likes search', '[0.3, 0.2, 0.1]', 'tiny-3d', 3),
    ('d0000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 'docs', NULL,
     'The quick brown fox jumps over the lazy dog', NULL, NULL, NULL),
    ('d0000000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', 'notes', NULL,
     'Meeting notes', NULL, 'tiny-3d', NULL);

INSERT INTO mcp.workflows (id, tenant_id, name, workflow_type, status, definition) VALUES
    ('e0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'review flow',
     'sequential', 'active', '{"steps": ["code", "review"]}');
