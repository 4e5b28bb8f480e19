"""Search's share of offboarding a tenant: `embedding_statistics` is keyed by collection id (as text), not by a
foreign key, so the cascade from `tenants` does not reach it (registered on `tenants.hooks`)."""

from __future__ import annotations

from typing import Any

from search.models import Collection, EmbeddingStatistics
from tenants.hooks import TenantData


def _statistics_of(tenant_id: Any) -> Any:
    collection_ids = [str(pk) for pk in Collection.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True)]
    return EmbeddingStatistics.objects.filter(collection_id__in=collection_ids)


def statistics_count(tenant_id: Any) -> dict[str, int]:
    return {EmbeddingStatistics._meta.db_table: _statistics_of(tenant_id).count()}


def statistics_delete(tenant_id: Any) -> None:
    _statistics_of(tenant_id).delete()


TENANT_STATISTICS = TenantData(count=statistics_count, delete=statistics_delete)
