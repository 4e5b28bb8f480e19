"""Stored text chunks with their embeddings, and per-collection BM25 statistics."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import HnswIndex, VectorField

from mcpadmin.db.fields import CurrentTimestamp, TimestampField, created_at, updated_at, uuid_pk

#: Width of `normalized_embedding`: every model's unit vector, zero-padded, shares one HNSW index.
NORMALIZED_DIMENSIONS = 1536


class Embedding(models.Model):
    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="embeddings", db_index=False)
    collection = models.CharField(max_length=255)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    content = models.TextField()
    #: SHA-256 (hex) of the content: the upsert key of documents without an external id.
    content_hash = models.CharField(max_length=64)
    #: The model's own vector, of its own dimension.
    embedding = VectorField(null=True, blank=True)
    normalized_embedding = VectorField(dimensions=NORMALIZED_DIMENSIONS, null=True, blank=True)
    model = models.CharField(max_length=255, blank=True, default="", db_default="")
    dimension = models.IntegerField(null=True, blank=True)
    agent_id = models.CharField(max_length=255, null=True, blank=True)
    task_type = models.CharField(max_length=50, null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    generation_time_ms = models.IntegerField(null=True, blank=True)
    content_tsvector = SearchVectorField(null=True, blank=True)
    term_frequencies = models.JSONField(null=True, blank=True)
    document_length = models.IntegerField(null=True, blank=True)
    idf_scores = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, db_default={}, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "embeddings"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "collection", "external_id"],
                condition=Q(external_id__isnull=False),
                name="embeddings_tenant_collection_external_id_key",
            ),
            models.CheckConstraint(
                condition=Q(dimension__isnull=True) | Q(dimension__gte=1, dimension__lte=NORMALIZED_DIMENSIONS),
                name="embeddings_dimension_check",
            ),
        ]
        indexes = [
            models.Index(fields=["agent_id"], name="idx_embeddings_agent_id"),
            models.Index(fields=["task_type"], name="idx_embeddings_task_type"),
            GinIndex(fields=["content_tsvector"], name="idx_embeddings_fts"),
            models.Index(fields=["tenant", "collection", "-created_at"], name="idx_embeddings_tenant_coll"),
            models.Index(fields=["tenant", "collection", "model", "content_hash"], name="idx_embeddings_content_hash"),
            GinIndex(fields=["metadata"], name="idx_embeddings_metadata", opclasses=["jsonb_path_ops"]),
            HnswIndex(
                fields=["normalized_embedding"],
                name="idx_embeddings_normalized_hnsw",
                m=16,
                ef_construction=64,
                opclasses=["vector_ip_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collection}: {self.content[:60]}"


class EmbeddingStatistics(models.Model):
    """The spec's `embedding_statistics`, one row per collection, exactly as written there."""

    collection_id = models.CharField(max_length=255, primary_key=True)
    total_documents = models.IntegerField(default=0, db_default=0)
    avg_document_length = models.FloatField(default=0.0, db_default=0.0)
    term_document_counts = models.JSONField(default=dict, db_default={})
    last_updated = TimestampField(auto_now=True, db_default=CurrentTimestamp())

    class Meta:
        db_table = "embedding_statistics"
        verbose_name_plural = "embedding statistics"

    def __str__(self) -> str:
        return self.collection_id
