"""API of hybrid search: collections, their documents (ingest, delete) and search.

Every collection is the calling key's tenant's: another tenant's collection of
the same name is simply a different collection, and unknown names are 404.
Searching is a read (user keys may search); ingest and deletes are writes.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apikeys import policy
from mcpadmin.api import parsers
from mcpadmin.api.pagination import Pagination
from mcpadmin.api.serializers import JSONObjectField, StrictIntegerField, StrictSerializer
from mcpadmin.api.views import PlatformAPIView, query_flag
from mcpadmin.core.errors import DomainError
from search.filters import DocumentFilters
from search.fusion import DEFAULT_FUSION, FUSIONS
from search.models import NORMALIZED_DIMENSIONS, Collection, Embedding
from search.policy import document_hidden_fields
from search.selectors import collection_document, collection_readable, collection_statistics, search
from search.services import (
    MAX_BATCH_DOCUMENTS,
    DocumentInput,
    collection_create,
    document_delete,
    documents_delete,
    documents_ingest,
)
from search.vector_indexes import GRAPH_MIN_DOCUMENTS, VECTOR_PATHS
from search.vectors import FLOAT4_MAX, FLOAT4_MIN_NORMAL, vector_problem
from workspaces.policy import redacted, refuse_hidden_filters


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number", "minimum": -FLOAT4_MAX, "maximum": FLOAT4_MAX},
        "minItems": 1,
        "maxItems": NORMALIZED_DIMENSIONS,
        "not": {"items": {"minimum": -FLOAT4_MIN_NORMAL, "maximum": FLOAT4_MIN_NORMAL}},
        "description": f"1 to {NORMALIZED_DIMENSIONS} float4 numbers, not all zero (a vector needs a direction).",
    }
)
class EmbeddingField(serializers.Field):
    """A list of up to 1536 finite numbers, not all zero (checked in one pass, without a field per number)."""

    def to_internal_value(self, data: Any) -> list[float]:
        problem = vector_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return list(data)

    def to_representation(self, value: Any) -> Any:
        return value


class DocumentItemSerializer(StrictSerializer):
    """Identifiers (external_id, model, agent_id, task_type) are opaque keys, taken as given: trimming them would
    file the document under another key than the client's (and refuse " " while the schema allows it)."""

    external_id = serializers.CharField(max_length=255, required=False, allow_null=True, trim_whitespace=False)
    content = serializers.CharField(
        trim_whitespace=False,
        allow_blank=False,
        validators=[RegexValidator(r"\S", "Content must not be empty.")],  # the schema's pattern: not only spaces
    )
    embedding = EmbeddingField(required=False, allow_null=True, help_text=f"Up to {NORMALIZED_DIMENSIONS} numbers.")
    model = serializers.CharField(
        max_length=255, trim_whitespace=False, help_text="The embedding model (also for documents without one)."
    )
    agent_id = serializers.CharField(max_length=255, required=False, allow_null=True, trim_whitespace=False)
    task_type = serializers.CharField(max_length=50, required=False, allow_null=True, trim_whitespace=False)
    cost_usd = serializers.DecimalField(max_digits=10, decimal_places=6, required=False, allow_null=True)
    generation_time_ms = StrictIntegerField(min_value=0, required=False, allow_null=True)
    metadata = JSONObjectField(required=False)


class IngestSerializer(StrictSerializer):
    documents = serializers.ListField(
        child=DocumentItemSerializer(),
        allow_empty=False,
        max_length=MAX_BATCH_DOCUMENTS,
        help_text=f"At most {MAX_BATCH_DOCUMENTS} documents; the body at most MCPADMIN_INGEST_MAX_BYTES (10 MB).",
    )


class IngestedSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.UUIDField()
    created = serializers.BooleanField(help_text="false: it replaced a document (same external_id, or content+model)")


class IngestResponseSerializer(serializers.Serializer):
    collection = serializers.CharField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    documents = IngestedSerializer(many=True)


class CollectionSerializer(serializers.ModelSerializer):
    workspace_id = serializers.UUIDField(read_only=True, allow_null=True)
    statistics_id = serializers.CharField(read_only=True, help_text="Its key in embedding_statistics.")

    class Meta:
        model = Collection
        fields = ["id", "name", "text_search_config", "workspace_id", "statistics_id", "created_at"]
        read_only_fields = fields


class CollectionCreateSerializer(StrictSerializer):
    name = serializers.CharField(
        max_length=255, help_text='1 to 255 printable characters, no "/", no surrounding spaces.'
    )
    text_search_config = serializers.CharField(
        max_length=63, default="english", help_text="A text-search configuration of the database (`pg_ts_config`)."
    )
    workspace_id = serializers.UUIDField(required=False, allow_null=True)


class ModelDimensionSerializer(serializers.Serializer):
    model = serializers.CharField()
    dimension = serializers.IntegerField()
    vector_search = serializers.ChoiceField(
        choices=VECTOR_PATHS,
        help_text=(
            f"How its vector searches run: 'exact' (at most {GRAPH_MIN_DOCUMENTS} documents: every one compared), "
            "'graph' (the collection's own HNSW index of this model), 'graph pending' (large enough for one, not "
            "built yet: every document compared until the worker builds it; vectors of uncommon dimensions use "
            "the shared padded index meanwhile)."
        ),
    )


class TermCountSerializer(serializers.Serializer):
    term = serializers.CharField()
    document_count = serializers.IntegerField()


class CollectionStatsSerializer(CollectionSerializer):
    total_documents = serializers.IntegerField()
    total_length = serializers.IntegerField()
    avg_document_length = serializers.FloatField()
    unique_terms = serializers.IntegerField()
    top_terms = TermCountSerializer(many=True)
    models = ModelDimensionSerializer(many=True)
    statistics_last_updated = serializers.DateTimeField(allow_null=True)

    class Meta(CollectionSerializer.Meta):
        fields = [
            *CollectionSerializer.Meta.fields, "total_documents", "total_length", "avg_document_length",
            "unique_terms", "top_terms", "models", "statistics_last_updated",
        ]  # fmt: skip
        read_only_fields = fields


class FiltersSerializer(StrictSerializer):
    agent_id = serializers.CharField(max_length=255, required=False, trim_whitespace=False)
    task_type = serializers.CharField(max_length=50, required=False, trim_whitespace=False)
    metadata = JSONObjectField(required=False, help_text="JSON containment: metadata @> this object.")
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class WeightField(serializers.FloatField):
    """A JSON number (not a string, not a boolean), finite, at least 0."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class WeightsSerializer(StrictSerializer):
    bm25 = WeightField(min_value=0, required=False, help_text="Weight of the BM25 list (1).")
    vector = WeightField(min_value=0, required=False, help_text="Weight of the vector list (1).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs and attrs.get("bm25", 1.0) == 0 and attrs.get("vector", 1.0) == 0:
            raise serializers.ValidationError("At least one weight above 0.")
        return attrs


class SearchRequestSerializer(StrictSerializer):
    collection = serializers.CharField(max_length=255, required=False, help_text="A collection of the caller's tenant.")
    collection_id = serializers.UUIDField(
        required=False, help_text="Instead of `collection`: any readable collection, e.g. of a public workspace."
    )
    query = serializers.CharField(max_length=10_000, required=False, allow_blank=True, trim_whitespace=False)
    query_embedding = EmbeddingField(required=False, allow_null=True)
    model = serializers.CharField(max_length=255, required=False, allow_null=True, trim_whitespace=False)
    mode = serializers.ChoiceField(choices=["hybrid", "bm25", "vector"], default="hybrid")
    k = StrictIntegerField(min_value=1, max_value=100, default=10)
    filters = FiltersSerializer(required=False)
    fusion = serializers.ChoiceField(
        choices=list(FUSIONS),
        default=DEFAULT_FUSION,
        help_text="Hybrid: dbsf (distribution-based score fusion, the default), relative (min-max) or rrf.",
    )
    weights = WeightsSerializer(required=False, help_text="Per-list weights of the fusion (1 each).")
    rrf_k = StrictIntegerField(min_value=1, max_value=100_000, default=60, help_text="k of fusion rrf.")
    candidates = StrictIntegerField(min_value=1, max_value=1000, default=100, help_text="Per list (hybrid).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("collection" in attrs) == ("collection_id" in attrs):
            raise serializers.ValidationError({"collection": ["Give collection or collection_id (one of them)."]})
        if attrs["candidates"] < attrs["k"]:
            raise serializers.ValidationError({"candidates": ["Must be at least k."]})
        if not attrs.get("query") and attrs.get("query_embedding") is None:
            raise serializers.ValidationError({"query": ["Give query, query_embedding, or both."]})
        return attrs


class ListScoreSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Rank in that list (equal scores share a rank).")
    score = serializers.FloatField()
    normalized = serializers.FloatField(
        allow_null=True, help_text="Hybrid: the score as the fusion normalised it (rrf: 1 / (rrf_k + rank))."
    )


class SearchHitSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField(allow_null=True)
    content = serializers.CharField()
    metadata = serializers.JSONField()
    model = serializers.CharField()
    agent_id = serializers.CharField(allow_null=True)
    task_type = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    score = serializers.FloatField(help_text="hybrid: the fused score; bm25: BM25; vector: cosine similarity.")
    fused_score = serializers.FloatField()
    bm25 = ListScoreSerializer(allow_null=True)
    vector = ListScoreSerializer(allow_null=True)


class FusionUsedSerializer(serializers.Serializer):
    method = serializers.CharField(help_text="dbsf, relative or rrf.")
    weights = serializers.DictField(child=serializers.FloatField(), help_text="bm25 and vector.")
    rrf_k = serializers.IntegerField(allow_null=True, help_text="rrf only.")


class SearchResponseSerializer(serializers.Serializer):
    collection = serializers.CharField()
    mode = serializers.CharField()
    mode_used = serializers.CharField(help_text="What ran: hybrid, bm25 or vector.")
    vector_method = serializers.CharField(allow_null=True, help_text="hnsw, exact, or none.")
    fusion = FusionUsedSerializer(allow_null=True, help_text="The fusion that ran (null unless mode_used is hybrid).")
    query_terms = serializers.ListField(child=serializers.CharField(), help_text="The analyzer's lexemes.")
    notes = serializers.ListField(child=serializers.CharField())
    results = SearchHitSerializer(many=True)
    timings_ms = serializers.DictField(child=serializers.FloatField())


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Embedding
        fields = [
            "id", "external_id", "collection", "content", "content_hash", "model", "dimension", "agent_id",
            "task_type", "cost_usd", "generation_time_ms", "document_length", "term_frequencies", "metadata",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.UUIDField())


class DeleteFiltersSerializer(FiltersSerializer):
    external_id = serializers.CharField(max_length=255, required=False)
    model = serializers.CharField(max_length=255, required=False)


def _filters_from_query(params: Any) -> DocumentFilters:
    """Filters of a DELETE, from the query string (`metadata` is a JSON object)."""
    values: dict[str, Any] = {name: params[name] for name in params}
    if values.get("metadata") == "":
        del values["metadata"]  # `metadata=` says nothing (as a form's empty field): no metadata filter
    if "metadata" in values:
        try:
            values["metadata"] = parsers.loads(values["metadata"])
        except ValueError as error:
            message = f"Expected a JSON object: {error}."
            raise DomainError("invalid", f"metadata is not valid JSON: {error}.", {"metadata": [message]}) from error
    data = DeleteFiltersSerializer(data=values)
    data.is_valid(raise_exception=True)
    return DocumentFilters(**data.validated_data)


def document_inputs(items: list[dict[str, Any]]) -> list[DocumentInput]:
    """Validated items of `DocumentItemSerializer` as the service's inputs (also for `import_documents`)."""
    return [
        DocumentInput(
            content=item["content"],
            model=item["model"],
            external_id=item.get("external_id"),
            embedding=item.get("embedding"),
            agent_id=item.get("agent_id"),
            task_type=item.get("task_type"),
            cost_usd=item.get("cost_usd"),
            generation_time_ms=item.get("generation_time_ms"),
            metadata=item.get("metadata") or {},
        )
        for item in items
    ]


@extend_schema(tags=["search"])
class CollectionListView(PlatformAPIView):
    """The caller's collections. Ingest creates a collection on first use (analyzer `english`)."""

    service = "search"
    pagination_class = Pagination  # read by the OpenAPI schema: the list is a page

    @extend_schema(
        parameters=[OpenApiParameter("include_public", bool, description="also collections of other tenants' "
                                     "public workspaces (search them by collection_id)")],
        responses=CollectionSerializer(many=True),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        queryset = Collection.objects.visible_to(
            self.actor, include_public=query_flag(request, "include_public")
        ).order_by("name", "id")
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(CollectionSerializer(page, many=True).data)

    @extend_schema(request=CollectionCreateSerializer, responses={201: CollectionSerializer})
    def post(self, request: Request) -> Response:
        """Creates a collection with a chosen text-search configuration (a `pg_ts_config` name)."""
        data = CollectionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collection = collection_create(
            actor=self.actor,
            tenant=self.actor.tenant,
            name=data.validated_data["name"],
            text_search_config=data.validated_data["text_search_config"],
            workspace_id=data.validated_data.get("workspace_id"),
        )
        return Response(CollectionSerializer(collection).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["search"])
class CollectionDetailView(PlatformAPIView):
    service = "search"

    @extend_schema(responses=CollectionStatsSerializer)
    def get(self, request: Request, collection: str) -> Response:
        """The collection's statistics: exact figures (documents, average length, terms, models). Writes nothing."""
        target = collection_readable(actor=self.actor, name=collection)
        body = CollectionSerializer(target).data | collection_statistics(target)
        return Response(CollectionStatsSerializer(body).data)


@extend_schema(tags=["search"])
class CollectionDocumentsView(PlatformAPIView):
    service = "search"
    parser_classes = [parsers.IngestJSONParser]

    @extend_schema(request=IngestSerializer, responses={200: IngestResponseSerializer})
    def post(self, request: Request, collection: str) -> Response:
        """Upserts a batch (all or nothing): by external_id, else by content and model.

        A 400 names the first failing document (`details.documents.<index>.<field>`); bodies over 10 MB are 413.
        """
        data = IngestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = documents_ingest(
            actor=self.actor,
            tenant=self.actor.tenant,
            collection=collection,
            documents=document_inputs(data.validated_data["documents"]),
        )
        created = sum(1 for _, is_new in result.documents if is_new)
        body = {
            "collection": result.collection.name,
            "created": created,
            "updated": len(result.documents) - created,
            "documents": [
                {"index": index, "id": document_id, "created": is_new}
                for index, (document_id, is_new) in enumerate(result.documents)
            ],
        }
        return Response(IngestResponseSerializer(body).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("external_id", str),
            OpenApiParameter("agent_id", str),
            OpenApiParameter("task_type", str),
            OpenApiParameter("model", str),
            OpenApiParameter("metadata", str, description="JSON object: documents whose metadata contains it."),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
        ],
        responses={200: DeletedSerializer},
        operation_id="search_documents_delete_by_filter",
    )
    def delete(self, request: Request, collection: str) -> Response:
        """Deletes the documents matching every given filter (at least one), with their statistics."""
        target = collection_readable(actor=self.actor, name=collection)
        filters = _filters_from_query(request.query_params)
        deleted = documents_delete(actor=self.actor, collection=target, filters=filters)
        return Response({"deleted": len(deleted), "ids": deleted})


@extend_schema(tags=["search"])
class DocumentDetailView(PlatformAPIView):
    service = "search"

    @extend_schema(responses=DocumentSerializer)
    def get(self, request: Request, collection: str, document_id: str) -> Response:
        target = collection_readable(actor=self.actor, name=collection)
        return Response(DocumentSerializer(collection_document(target, document_id)).data)

    @extend_schema(responses={200: DeletedSerializer}, operation_id="search_document_delete")
    def delete(self, request: Request, collection: str, document_id: str) -> Response:
        target = collection_readable(actor=self.actor, name=collection)
        deleted = document_delete(actor=self.actor, collection=target, document_id=document_id)
        return Response({"deleted": len(deleted), "ids": deleted})


@extend_schema(tags=["search"])
class SearchView(PlatformAPIView):
    """BM25, vector or hybrid search (fused by score or by rank) of a readable collection. Users may search."""

    service = "search"

    def get_service_action(self, request: Request) -> str:
        return policy.READ

    @extend_schema(request=SearchRequestSerializer, responses=SearchResponseSerializer)
    def post(self, request: Request) -> Response:
        data = SearchRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        target = collection_readable(
            actor=self.actor, name=values.get("collection"), collection_id=values.get("collection_id")
        )
        filters = DocumentFilters(**values.get("filters", {}))
        hidden = document_hidden_fields(self.actor, target)
        refuse_hidden_filters(
            {f"filters.{name}" for name in values.get("filters", {})}, tuple(f"filters.{h}" for h in hidden)
        )
        result = search(
            collection=target,
            mode=values["mode"],
            query=values.get("query") or None,
            query_embedding=values.get("query_embedding"),
            model=values.get("model"),
            k=values["k"],
            filters=filters,
            rrf_k=values["rrf_k"],
            candidates=values["candidates"],
            fusion=values["fusion"],
            weights=values.get("weights"),
        )
        fusion = result.fusion
        body = {
            "collection": target.name,
            "mode": result.mode,
            "mode_used": result.mode_used,
            "vector_method": result.vector_method,
            "fusion": None
            if fusion is None
            else {
                "method": fusion.method,
                "weights": {"bm25": fusion.bm25_weight, "vector": fusion.vector_weight},
                "rrf_k": fusion.rrf_k if fusion.method == "rrf" else None,
            },
            "query_terms": result.query_terms,
            "notes": result.notes,
            "results": [redacted(hit, hidden) for hit in result.results],
            "timings_ms": result.timings_ms,
        }
        return Response(SearchResponseSerializer(body).data)
