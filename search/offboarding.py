"""Search's share of offboarding a tenant (registered on `tenants.hooks`): `embedding_statistics` (keyed by the
collection's id as text) and `search_postings` (no foreign key, like an index) are not reached by the cascade from
`tenants`. The trigger `search_collections_forget_statistics` would remove them with their collections; they are
counted here for the plan, and deleted here so that offboarding does not depend on it."""

from __future__ import annotations

from typing import Any

from django.db import connection

from tenants.hooks import TenantData

_TABLES = {
    "embedding_statistics": "collection_id IN (SELECT id::text FROM search_collections WHERE tenant_id = %s)",
    "search_postings": "collection_id IN (SELECT id FROM search_collections WHERE tenant_id = %s)",
}


def search_data_count(tenant_id: Any) -> dict[str, int]:
    rows = {}
    with connection.cursor() as cursor:
        for table, where in _TABLES.items():
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", [tenant_id])
            rows[table] = cursor.fetchone()[0]
    return rows


def search_data_delete(tenant_id: Any) -> None:
    with connection.cursor() as cursor:
        for table, where in _TABLES.items():
            cursor.execute(f"DELETE FROM {table} WHERE {where}", [tenant_id])


TENANT_SEARCH_DATA = TenantData(count=search_data_count, delete=search_data_delete)
