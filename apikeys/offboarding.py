"""API keys' share of offboarding a tenant: the rate-limit counters of its keys (`rate_limit_buckets`, keyed
`key:<key id>` and `key:<key id>:<service>`, no foreign key) go with it (registered on `tenants.hooks`)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from tenants.hooks import TenantData

_BUCKETS_OF_TENANT = """
    FROM rate_limit_buckets
    WHERE split_part(bucket, ':', 1) = 'key'
      AND split_part(bucket, ':', 2) IN (SELECT id::text FROM api_keys WHERE tenant_id = %s)
"""


def buckets_count(tenant_id: Any) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*)" + _BUCKETS_OF_TENANT, [tenant_id])
        return {"rate_limit_buckets": cursor.fetchone()[0]}


def buckets_delete(tenant_id: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE" + _BUCKETS_OF_TENANT, [tenant_id])


TENANT_BUCKETS = TenantData(count=buckets_count, delete=buckets_delete)
