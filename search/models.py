"""Stored text chunks with their embeddings, per-tenant collections, and their BM25 statistics.

`Embedding` and `EmbeddingStatistics` are the spec's tables, shared with other
services. The rest is this app's: collections (per tenant, with their text
analyzer), the dimension each model has in a collection, and the statistics'
source of truth, kept in stripes so that concurrent writers never wait for
one another (see `search/services.py`).
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from apikeys.policy import key_type_allows
from mcpadmin.core.access import READ
from mcpadmin.core.actor import Actor
from mcpadmin.db.fields import CurrentTimestamp, TimestampField, created_at, updated_at, uuid_pk
from mcpadmin.db.querysets import TenantQuerySet
from workspaces.models import Workspace, WorkspaceVisibility

#: Width of `normalized_embedding`: every model's unit vector, zero-padded (the spec's column).
NORMALIZED_DIMENSIONS = 1536
#: Common embedding sizes with an HNSW index of their own, on the raw `embedding` at its own width (cosine), one
#: per dimension (models of one size share it; a search names its model). Other sizes are served by the HNSW
#: index on the padded `normalized_embedding`. An insert into a 384-wide graph costs half as much as into the
#: 1,536-wide one, whose padding zeros are compared like any other component (bench/vector_index_bench.py).
NATIVE_INDEX_DIMENSIONS = (256, 384, 512, 768, 1024)
#: Writers spread their statistics deltas over this many rows per term (see `search/services.py`).
STAT_STRIPES = 16


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
            # The HNSW indexes are partial, on expressions Django cannot state: search/vector_indexes.py.
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


class CollectionQuerySet(TenantQuerySet):
    def visible_to(self, actor: Actor, *, include_public: bool = False) -> CollectionQuerySet:
        """The collections the caller may search: `search.policy.allows(actor, SEARCH, c)` as one query (tests hold
        them together). Its tenant's outside workspaces and in the workspaces it may read; with `include_public`,
        other tenants' collections of public workspaces too."""
        if actor.is_operator:
            return self.all()
        if not key_type_allows(actor.key_type or "", "search", READ):
            return self.none()
        readable = Workspace.objects.visible_to(actor).values("pk")
        own = Q(tenant_id=actor.tenant_id) & (Q(workspace__isnull=True) | Q(workspace__in=readable))
        if include_public:
            own |= Q(workspace__visibility=WorkspaceVisibility.PUBLIC)
        return self.filter(own)


class Collection(models.Model):
    """A tenant's named set of documents, analysed with one PostgreSQL text-search configuration.

    `embeddings.collection` holds the name; `embedding_statistics.collection_id`
    holds this row's id as text, so two tenants' collections of one name never
    share statistics.
    """

    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="collections", db_index=False)
    name = models.CharField(max_length=255)
    #: A `pg_ts_config` name (regconfig), checked when the collection is created.
    text_search_config = models.CharField(max_length=63, default="english", db_default="english")
    #: Optional home workspace (issue 7 decides what workspace members may do with it).
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="collections"
    )
    #: Sum of the counters' `writes` folded into `embedding_statistics` by the last fold.
    folded_writes = models.BigIntegerField(default=0, db_default=0, editable=False)
    created_at = created_at()
    updated_at = updated_at()

    objects = CollectionQuerySet.as_manager()

    class Meta:
        db_table = "search_collections"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="search_collections_tenant_name_key")]

    def __str__(self) -> str:
        return self.name

    @property
    def statistics_id(self) -> str:
        """This collection's key in `embedding_statistics`."""
        return str(self.id)


class CollectionModel(models.Model):
    """The dimension of an embedding model within a collection: fixed by its first vector."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="models", db_index=False)
    model = models.CharField(max_length=255)
    dimension = models.IntegerField()
    created_at = created_at()

    class Meta:
        db_table = "search_collection_models"
        constraints = [
            models.UniqueConstraint(fields=["collection", "model"], name="search_collection_models_key"),
            models.CheckConstraint(
                condition=Q(dimension__gte=1, dimension__lte=NORMALIZED_DIMENSIONS),
                name="search_collection_models_dimension_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.dimension})"


class CollectionCounter(models.Model):
    """One stripe of a collection's document count and total length (the sums over stripes are exact).

    Each write adds its deltas to the one stripe it holds; `writes` counts the
    writes, so that a fold can tell whether `embedding_statistics` is behind.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="counters", db_index=False)
    stripe = models.SmallIntegerField()
    documents = models.BigIntegerField(default=0, db_default=0)
    total_length = models.BigIntegerField(default=0, db_default=0)
    writes = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "search_collection_counters"
        constraints = [
            models.UniqueConstraint(fields=["collection", "stripe"], name="search_collection_counters_key"),
            models.CheckConstraint(
                condition=Q(stripe__gte=0, stripe__lt=STAT_STRIPES), name="search_collection_counters_stripe_check"
            ),
        ]

    def __str__(self) -> str:
        return f"stripe {self.stripe}: {self.documents} documents"


class TermStatistic(models.Model):
    """One stripe of a term's document frequency in a collection (the sum over stripes is exact).

    A stripe may go negative (a document counted in one stripe and removed
    through another); only the sum means something.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="term_stats", db_index=False)
    term = models.TextField()
    stripe = models.SmallIntegerField()
    document_count = models.IntegerField()

    class Meta:
        db_table = "search_term_stats"
        constraints = [
            models.UniqueConstraint(fields=["collection", "term", "stripe"], name="search_term_stats_key"),
            models.CheckConstraint(
                condition=Q(stripe__gte=0, stripe__lt=STAT_STRIPES), name="search_term_stats_stripe_check"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} (stripe {self.stripe}): {self.document_count}"
