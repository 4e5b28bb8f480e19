import uuid

import django.contrib.postgres.functions
import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
import django.utils.timezone
import pgvector.django.indexes
import pgvector.django.vector
from django.db import migrations, models

import mcpadmin.db.fields

# The spec's two functions, in schema mcp, with its exact signatures.
FUNCTIONS_SQL = r"""
CREATE OR REPLACE FUNCTION mcp.bm25_score(
    term_freq FLOAT,
    doc_freq INTEGER,
    total_docs INTEGER,
    doc_length INTEGER,
    avg_doc_length FLOAT,
    k1 FLOAT DEFAULT 1.2,
    b FLOAT DEFAULT 0.75
) RETURNS FLOAT AS $$
-- BM25 weight of one term in one document.
-- IDF is Lucene's non-negative ln(1 + (N - df + 0.5) / (df + 0.5)): the spec's plain
-- ln((N - df + 0.5) / (df + 0.5)) turns negative for a term found in more than half of
-- the documents, so a common query term would lower a document's score.
-- Guards: a missing or non-positive term frequency, document frequency or document
-- count scores 0; a missing or non-positive average length disables length
-- normalisation; df > N (stale statistics) is clamped so that IDF stays positive.
DECLARE
    length_norm FLOAT := 1.0;
BEGIN
    IF term_freq IS NULL OR term_freq <= 0 OR doc_freq IS NULL OR doc_freq <= 0
       OR total_docs IS NULL OR total_docs <= 0 THEN
        RETURN 0.0;
    END IF;
    k1 := COALESCE(k1, 1.2);
    b := COALESCE(b, 0.75);
    IF doc_length IS NOT NULL AND avg_doc_length IS NOT NULL AND avg_doc_length > 0 THEN
        length_norm := 1 - b + b * (doc_length / avg_doc_length);
    END IF;
    RETURN ((term_freq * (k1 + 1)) / (term_freq + k1 * length_norm))
           * ln(1 + (GREATEST(total_docs - doc_freq, 0) + 0.5) / (doc_freq + 0.5));
END;
$$ LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mcp.reciprocal_rank_fusion(
    vector_scores FLOAT[],
    text_scores FLOAT[],
    k INTEGER DEFAULT 60
) RETURNS TABLE(idx INTEGER, score FLOAT) AS $$
-- Reciprocal rank fusion of two score lists over the same candidates.
-- Position i (1-based) of each array is candidate i; NULL means "absent from that list".
-- Each list is ranked by score, highest first, equal scores sharing a rank (1, 2, 2, 4);
-- a candidate's score is the sum, over the lists it is present in, of 1 / (k + rank).
-- Returns every candidate present in either list, highest score first, ties by idx.
BEGIN
    IF k IS NULL OR k < 0 THEN
        RAISE EXCEPTION 'reciprocal_rank_fusion: k must be a non-negative integer, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH ranked AS (
        SELECT v.pos, rank() OVER (ORDER BY v.val DESC) AS rnk
        FROM unnest(vector_scores) WITH ORDINALITY AS v(val, pos)
        WHERE v.val IS NOT NULL
        UNION ALL
        SELECT t.pos, rank() OVER (ORDER BY t.val DESC) AS rnk
        FROM unnest(text_scores) WITH ORDINALITY AS t(val, pos)
        WHERE t.val IS NOT NULL
    )
    SELECT ranked.pos::integer, sum(1.0::float / (k + ranked.rnk))::float
    FROM ranked
    GROUP BY ranked.pos
    ORDER BY 2 DESC, 1;
END;
$$ LANGUAGE plpgsql;
"""

DROP_FUNCTIONS_SQL = """
DROP FUNCTION mcp.reciprocal_rank_fusion(double precision[], double precision[], integer);
DROP FUNCTION mcp.bm25_score(
    double precision, integer, integer, integer, double precision, double precision, double precision
);
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        # Kept on reverse: other services sharing the database may use pgvector.
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public",
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL(FUNCTIONS_SQL, DROP_FUNCTIONS_SQL),
        migrations.CreateModel(
            name="EmbeddingStatistics",
            fields=[
                (
                    "collection_id",
                    models.CharField(max_length=255, primary_key=True, serialize=False),
                ),
                ("total_documents", models.IntegerField(db_default=0, default=0)),
                ("avg_document_length", models.FloatField(db_default=0.0, default=0.0)),
                ("term_document_counts", models.JSONField(db_default={}, default=dict)),
                (
                    "last_updated",
                    mcpadmin.db.fields.TimestampField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
            ],
            options={
                "verbose_name_plural": "embedding statistics",
                "db_table": "embedding_statistics",
            },
        ),
        migrations.CreateModel(
            name="Embedding",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("collection", models.CharField(max_length=255)),
                (
                    "external_id",
                    models.CharField(blank=True, max_length=255, null=True),
                ),
                ("content", models.TextField()),
                ("content_hash", models.CharField(max_length=64)),
                (
                    "embedding",
                    pgvector.django.vector.VectorField(blank=True, null=True),
                ),
                (
                    "normalized_embedding",
                    pgvector.django.vector.VectorField(blank=True, dimensions=1536, null=True),
                ),
                (
                    "model",
                    models.CharField(blank=True, db_default="", default="", max_length=255),
                ),
                ("dimension", models.IntegerField(blank=True, null=True)),
                ("agent_id", models.CharField(blank=True, max_length=255, null=True)),
                ("task_type", models.CharField(blank=True, max_length=50, null=True)),
                (
                    "cost_usd",
                    models.DecimalField(blank=True, decimal_places=6, max_digits=10, null=True),
                ),
                ("generation_time_ms", models.IntegerField(blank=True, null=True)),
                (
                    "content_tsvector",
                    django.contrib.postgres.search.SearchVectorField(blank=True, null=True),
                ),
                ("term_frequencies", models.JSONField(blank=True, null=True)),
                ("document_length", models.IntegerField(blank=True, null=True)),
                ("idf_scores", models.JSONField(blank=True, null=True)),
                ("metadata", models.JSONField(blank=True, db_default={}, default=dict)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="embeddings",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "embeddings",
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(fields=["agent_id"], name="idx_embeddings_agent_id"),
                    models.Index(fields=["task_type"], name="idx_embeddings_task_type"),
                    django.contrib.postgres.indexes.GinIndex(fields=["content_tsvector"], name="idx_embeddings_fts"),
                    models.Index(
                        fields=["tenant", "collection", "-created_at"],
                        name="idx_embeddings_tenant_coll",
                    ),
                    models.Index(
                        fields=["tenant", "collection", "model", "content_hash"],
                        name="idx_embeddings_content_hash",
                    ),
                    django.contrib.postgres.indexes.GinIndex(
                        fields=["metadata"],
                        name="idx_embeddings_metadata",
                        opclasses=["jsonb_path_ops"],
                    ),
                    pgvector.django.indexes.HnswIndex(
                        ef_construction=64,
                        fields=["normalized_embedding"],
                        m=16,
                        name="idx_embeddings_normalized_hnsw",
                        opclasses=["vector_ip_ops"],
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("external_id__isnull", False)),
                        fields=("tenant", "collection", "external_id"),
                        name="embeddings_tenant_collection_external_id_key",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("dimension__isnull", True),
                            models.Q(("dimension__gte", 1), ("dimension__lte", 1536)),
                            _connector="OR",
                        ),
                        name="embeddings_dimension_check",
                    ),
                ],
            },
        ),
    ]
