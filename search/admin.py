"""Operator admin of search: a console (BM25, vector and fused lists side by side), collections with their
statistics, and documents (read-only: documents are written through the API, which keeps statistics exact)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from mcpadmin.adminkit import ModelAdmin
from mcpadmin.core.errors import DomainError
from search.filters import DocumentFilters
from search.fusion import DEFAULT_FUSION, FUSIONS, competition_ranks
from search.models import (
    Collection,
    CollectionCounter,
    CollectionModel,
    Embedding,
    EmbeddingStatistics,
    TermStatistic,
)
from search.selectors import (
    collection_statistics,
    collection_stats_problems,
    documents_by_id,
    search,
)
from search.services import collection_stats_fold, collection_stats_rebuild
from search.vectors import vector_problem


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Embedding)
class EmbeddingAdmin(ReadOnlyAdmin):
    list_display = (
        "short_content", "collection", "tenant", "model", "agent_id", "task_type", "cost_usd", "generation_time_ms",
        "created_at",
    )  # fmt: skip
    list_filter = ("model", "task_type", "tenant")
    search_fields = ("=external_id", "=content_hash", "=agent_id", "collection")
    list_select_related = ("tenant",)
    fields = (
        "tenant", "collection", "external_id", "content", "metadata", "model", "dimension", "agent_id", "task_type",
        "cost_usd", "generation_time_ms", "document_length", "term_frequencies", "idf_scores", "content_hash",
        "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="content")
    def short_content(self, obj: Embedding) -> str:
        return obj.content[:80]


@admin.register(EmbeddingStatistics)
class EmbeddingStatisticsAdmin(ReadOnlyAdmin):
    list_display = ("collection_id", "total_documents", "avg_document_length", "last_updated")
    search_fields = ("=collection_id",)
    exclude = ("term_document_counts",)


def _counter_sum(column: str) -> Subquery:
    sums = (
        CollectionCounter.objects.filter(collection=OuterRef("pk"))
        .values("collection")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Subquery(sums)


class CollectionOfTenantField(forms.ModelChoiceField):
    """Collections of different tenants may share a name: the picker names the tenant too."""

    def label_from_instance(self, obj: Collection) -> str:
        return f"{obj.tenant.name} / {obj.name}"


class ConsoleForm(forms.Form):
    collection = CollectionOfTenantField(
        queryset=Collection.objects.select_related("tenant").order_by("tenant__name", "name"),
        help_text="tenant / collection",
    )
    query = forms.CharField(required=False, max_length=10_000)
    model = forms.CharField(required=False, max_length=255, help_text="The embedding model of the vector list.")
    query_embedding = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="JSON list of numbers (optional)."
    )
    k = forms.IntegerField(min_value=1, max_value=100, initial=10)
    candidates = forms.IntegerField(min_value=1, max_value=1000, initial=100, help_text="per list")
    fusion = forms.ChoiceField(
        choices=[(name, name) for name in FUSIONS],
        initial=DEFAULT_FUSION,
        required=False,
        help_text="dbsf: mean ± 3 sd; relative: min-max; rrf: ranks",
    )
    bm25_weight = forms.FloatField(min_value=0, initial=1.0, required=False, label="BM25 weight")
    vector_weight = forms.FloatField(min_value=0, initial=1.0, required=False, label="vector weight")
    rrf_k = forms.IntegerField(min_value=1, max_value=100_000, initial=60, help_text="rrf only")

    def clean_query_embedding(self) -> list[float] | None:
        raw = self.cleaned_data.get("query_embedding", "").strip()
        if not raw:
            return None
        try:
            vector = json.loads(raw)
        except ValueError as error:
            raise forms.ValidationError("Not JSON.") from error
        problem = vector_problem(vector)
        if problem:
            raise forms.ValidationError(problem)
        return vector

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("query") and not data.get("query_embedding"):
            raise forms.ValidationError("Type a query, or give a query embedding.")
        if data.get("query_embedding") and not data.get("model"):
            self.add_error("model", "A vector search names its model.")
        data["fusion"] = data.get("fusion") or DEFAULT_FUSION
        for weight in ("bm25_weight", "vector_weight"):
            if data.get(weight) is None and weight not in self.errors:
                data[weight] = 1.0
        if data.get("bm25_weight") == 0 and data.get("vector_weight") == 0:
            self.add_error("vector_weight", "At least one weight above 0.")
        return data


def _console_rows(hits: list[tuple[Any, float]], k: int, documents: dict[Any, dict[str, Any]]) -> list[dict]:
    ranks = competition_ranks(hits)
    return [
        {"rank": ranks[document_id], "score": score, "document": documents.get(document_id, {}), "id": document_id}
        for document_id, score in hits[:k]
    ]


@admin.register(Collection)
class CollectionAdmin(ReadOnlyAdmin):
    list_display = (
        "name", "tenant", "text_search_config", "documents", "average_length", "model_list", "workspace", "created_at",
    )  # fmt: skip
    list_filter = ("tenant", "text_search_config")
    search_fields = ("name", "tenant__name", "=id")
    list_select_related = ("tenant", "workspace")
    fields = ("id", "tenant", "name", "text_search_config", "workspace", "statistics", "created_at", "updated_at")
    readonly_fields = fields
    actions = ["verify_statistics", "rebuild_statistics"]
    change_list_template = "admin/search/collection/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Collection]:
        return (
            super()
            .get_queryset(request)
            .annotate(documents_total=_counter_sum("documents"), length_total=_counter_sum("total_length"))
            .prefetch_related("models")
        )

    @admin.display(description="documents", ordering=F("documents_total").desc(nulls_last=True))
    def documents(self, obj: Collection) -> int:
        return obj.documents_total or 0

    @admin.display(description="avg length")
    def average_length(self, obj: Collection) -> str:
        return f"{obj.length_total / obj.documents_total:.1f}" if obj.documents_total else "-"

    @admin.display(description="models (dimension)")
    def model_list(self, obj: Collection) -> str:
        return ", ".join(str(model) for model in obj.models.all()) or "-"

    @admin.display(description="statistics")
    def statistics(self, obj: Collection) -> str:
        """Exact figures, read without folding (a page view writes nothing)."""
        stats = collection_statistics(obj, top_terms=25)
        terms = ", ".join(f"{t['term']} ({t['document_count']})" for t in stats["top_terms"]) or "-"
        return format_html(
            "{} documents, total length {}, average length {}, {} distinct terms<br>"
            "models: {}<br>most frequent terms: {}<br>embedding_statistics row {} (folded {})",
            stats["total_documents"],
            stats["total_length"],
            f"{stats['avg_document_length']:.2f}",
            stats["unique_terms"],
            ", ".join(f"{m['model']} ({m['dimension']}; {m['vector_search']})" for m in stats["models"]) or "-",
            terms,
            stats["statistics_id"],
            stats["statistics_last_updated"] or "never",
        )

    @admin.action(description="Verify statistics against the documents")
    def verify_statistics(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            collection_stats_fold(collection_id=collection.id)
            problems = collection_stats_problems(collection)
            if problems:
                self.message_user(request, f"{collection}: {'; '.join(problems)}", messages.ERROR)
            else:
                self.message_user(request, f"{collection}: exact.", messages.SUCCESS)

    @admin.action(description="Rebuild statistics and derived columns (small collections; else the command)")
    def rebuild_statistics(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            report = collection_stats_rebuild(collection=collection)
            self.message_user(
                request,
                f"{collection}: {report.documents} documents, {report.derived_fixed} fixed, "
                f"{report.terms_fixed} term counts fixed.",
                messages.SUCCESS,
            )

    def get_urls(self) -> list[Any]:
        console = path("console/", self.admin_site.admin_view(self.console_view), name="search_console")
        return [console, *super().get_urls()]

    def console_view(self, request: HttpRequest) -> HttpResponse:
        """Search console: the BM25 list, the vector list and the fused list of one query, side by side."""
        form = ConsoleForm(request.GET or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Search console",
            "form": form,
        }
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            collection = data["collection"]
            try:
                result = search(
                    collection=collection,
                    mode="hybrid",
                    query=data["query"] or None,
                    query_embedding=data["query_embedding"],
                    model=data["model"] or None,
                    k=data["k"],
                    filters=DocumentFilters(),
                    rrf_k=data["rrf_k"],
                    candidates=max(data["candidates"], data["k"]),
                    fusion=data["fusion"],
                    weights={"bm25": data["bm25_weight"], "vector": data["vector_weight"]},
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                k = data["k"]
                shown = {i for i, _ in result.text_list.hits[:k]} | {i for i, _ in result.vector_list.hits[:k]}
                documents = documents_by_id(collection, list(shown))
                context.update(
                    result=result,
                    bm25_rows=_console_rows(result.text_list.hits, k, documents),
                    vector_rows=_console_rows(result.vector_list.hits, k, documents),
                )
        return TemplateResponse(request, "admin/search/console.html", context)


@admin.register(CollectionModel)
class CollectionModelAdmin(ReadOnlyAdmin):
    list_display = ("collection", "model", "dimension", "created_at")
    list_select_related = ("collection",)
    search_fields = ("model", "collection__name")


@admin.register(CollectionCounter)
class CollectionCounterAdmin(ReadOnlyAdmin):
    """Stripes of document counts: their sums are a collection's figures (see search/services.py)."""

    list_display = ("collection", "stripe", "documents", "total_length", "writes")
    list_select_related = ("collection",)


@admin.register(TermStatistic)
class TermStatisticAdmin(ReadOnlyAdmin):
    """Stripes of document frequencies: a term's figure is the sum of its stripes."""

    list_display = ("collection", "term", "stripe", "document_count")
    list_select_related = ("collection",)
    search_fields = ("=term",)
    show_full_result_count = False
