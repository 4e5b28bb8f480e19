-- A Developer Mesh database as the Go platform leaves it: its `embeddings` table has no collection. Documents
-- belong to a context (context_id), name their model in model_name with its dimensions (model_dimensions,
-- configured_dimensions when reduced), and store every vector padded with zeros to vector(4096); content_hash
-- is a generated column. Shaped like the platform's 000003_vector_embeddings migration (contexts and
-- embedding_models included); the other tables are base_v1's.
\ir base_v1.sql
INSERT INTO mcp.schema_migrations (version, dirty) VALUES (1, false);

DROP TABLE mcp.embeddings;

CREATE TABLE mcp.contexts (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    name VARCHAR(255)
);

CREATE TABLE mcp.embedding_models (
    id UUID PRIMARY KEY,
    provider VARCHAR(50) NOT NULL,
    model_name VARCHAR(100) NOT NULL,
    dimensions INTEGER NOT NULL
);

CREATE TABLE mcp.embeddings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    context_id UUID NOT NULL REFERENCES mcp.contexts (id) ON DELETE CASCADE,
    content_index INTEGER NOT NULL DEFAULT 0,
    chunk_index INTEGER NOT NULL DEFAULT 0,
    content TEXT NOT NULL,
    content_hash VARCHAR(64) GENERATED ALWAYS AS (encode(sha256(content::bytea), 'hex')) STORED,
    content_tokens INTEGER,
    model_id UUID NOT NULL REFERENCES mcp.embedding_models (id),
    model_provider VARCHAR(50) NOT NULL,
    model_name VARCHAR(100) NOT NULL,
    model_dimensions INTEGER NOT NULL,
    configured_dimensions INTEGER,
    embedding vector(4096) NOT NULL,
    processing_time_ms INTEGER,
    embedding_created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    magnitude FLOAT,
    tenant_id UUID NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT valid_dimensions CHECK (model_dimensions > 0 AND model_dimensions <= 4096),
    CONSTRAINT valid_content CHECK (length(content) > 0),
    CONSTRAINT valid_indices CHECK (content_index >= 0 AND chunk_index >= 0)
);
CREATE INDEX idx_embeddings_context_content ON mcp.embeddings (context_id, content_index, chunk_index);
CREATE INDEX idx_embeddings_tenant_model ON mcp.embeddings (tenant_id, model_name);
CREATE INDEX idx_embeddings_content_hash ON mcp.embeddings (content_hash);

INSERT INTO mcp.contexts (id, tenant_id, name) VALUES
    ('f0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'design review'),
    ('f0000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'standup');
INSERT INTO mcp.embedding_models (id, provider, model_name, dimensions) VALUES
    ('e1000000-0000-4000-8000-000000000001', 'test', 'tiny-3d', 3),
    ('e1000000-0000-4000-8000-000000000002', 'openai', 'text-embedding-3-large', 3072);

-- The vectors, padded to 4096 with zeros as the platform stores them: `pad(v)`.
CREATE FUNCTION pg_temp.pad(v real[]) RETURNS vector LANGUAGE sql AS
    $$ SELECT (v || array_fill(0::real, ARRAY[4096 - cardinality(v)]))::vector $$;

INSERT INTO mcp.embeddings (id, context_id, content_index, chunk_index, content, model_id, model_provider, model_name,
                            model_dimensions, configured_dimensions, embedding, tenant_id) VALUES
    -- tenant 1: three documents of a 3-dimensional model (one reduced from 4 to 3: configured_dimensions)
    ('d1000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001', 0, 0,
     'The quick brown fox jumps over the lazy dog', 'e1000000-0000-4000-8000-000000000001', 'test', 'tiny-3d',
     3, NULL, pg_temp.pad('{1, 0, 0}'), '11111111-1111-4111-8111-111111111111'),
    ('d1000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000001', 0, 1,
     'Hybrid search fuses BM25 ranks with vector ranks', 'e1000000-0000-4000-8000-000000000001', 'test', 'tiny-3d',
     3, NULL, pg_temp.pad('{0, 1, 0}'), '11111111-1111-4111-8111-111111111111'),
    ('d1000000-0000-4000-8000-000000000003', 'f0000000-0000-4000-8000-000000000001', 1, 0,
     'Foxes are quick and clever animals', 'e1000000-0000-4000-8000-000000000001', 'test', 'tiny-3d',
     4, 3, pg_temp.pad('{0.6, 0.8, 0}'), '11111111-1111-4111-8111-111111111111'),
    -- tenant 2: one document of a 3,072-dimensional model: wider than the platform's 1,536, no vector search
    ('d1000000-0000-4000-8000-000000000004', 'f0000000-0000-4000-8000-000000000002', 0, 0,
     'Standup notes: the fox release ships on Friday', 'e1000000-0000-4000-8000-000000000002', 'openai',
     'text-embedding-3-large', 3072, NULL, pg_temp.pad(array_fill(0.01::real, ARRAY[3072])),
     '22222222-2222-4222-8222-222222222222'),
    -- tenant 2: a vector whose padding is not zeros: its dimension is not what model_dimensions says
    ('d1000000-0000-4000-8000-000000000005', 'f0000000-0000-4000-8000-000000000002', 1, 0,
     'Retro notes about the lazy dog', 'e1000000-0000-4000-8000-000000000001', 'test', 'tiny-3d',
     3, NULL, pg_temp.pad('{0, 0, 1, 0.5}'), '22222222-2222-4222-8222-222222222222');
