"""Operator admin of stored documents and collection statistics (read-only: ingest goes through the API)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from search.models import Embedding, EmbeddingStatistics


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Embedding)
class EmbeddingAdmin(ReadOnlyAdmin):
    list_display = ("short_content", "collection", "tenant", "model", "agent_id", "task_type", "cost_usd", "created_at")
    list_filter = ("collection", "model", "task_type", "tenant")
    search_fields = ("external_id", "content_hash", "agent_id")
    list_select_related = ("tenant",)
    exclude = ("embedding", "normalized_embedding", "content_tsvector")

    @admin.display(description="content")
    def short_content(self, obj: Embedding) -> str:
        return obj.content[:80]


@admin.register(EmbeddingStatistics)
class EmbeddingStatisticsAdmin(ReadOnlyAdmin):
    list_display = ("collection_id", "total_documents", "avg_document_length", "last_updated")
    search_fields = ("collection_id",)
    exclude = ("term_document_counts",)
