"""Reads of API keys that are more than a filter."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from apikeys.models import SUBTREE_SQL, ApiKey
from mcpadmin.db.prepared import PreparedStatement
from tenants.models import Tenant, TenantConfig

#: How far ahead a key counts as "expiring soon" (the admin's overview and its key list filter).
EXPIRING_SOON = timedelta(days=7)


def apikeys_expiring_soon(queryset: QuerySet[ApiKey], now: datetime) -> QuerySet[ApiKey]:
    """Keys still working at `now` that stop within EXPIRING_SOON: what an operator must rotate this week."""
    return queryset.filter(
        is_active=True, revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON
    )


def apikey_is_descendant(key_id: Any, ancestor_id: Any) -> bool:
    """Was `key_id` issued under `ancestor_id`, transitively (a key is not its own descendant)? One EXISTS."""
    if key_id == ancestor_id:
        return False
    return ApiKey.objects.filter(pk=key_id, pk__in=RawSQL(SUBTREE_SQL, [ancestor_id])).exists()  # noqa: S611


def _select_list(model: type, alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


_KEY_MODELS = ((ApiKey, "k"), (Tenant, "t"), (TenantConfig, "c"))
#: One statement, compiled once: authentication runs on every request and the ORM's
#: query compilation cost more than the database round trip (see bench/auth_bench.py).
_KEY_LOOKUP_SQL = (
    f"SELECT {', '.join(_select_list(model, alias) for model, alias in _KEY_MODELS)}"
    " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id LEFT JOIN tenant_config c ON c.tenant_id = t.id"
    " WHERE k.{column} = $1"
)
_KEY_LOOKUPS = {
    column: PreparedStatement(f"mcpadmin_key_by_{column}", _KEY_LOOKUP_SQL.format(column=column), param_types=["text"])
    for column in ("key_prefix", "key_hash")
}


def _instance(model: type, values: tuple[Any, ...]) -> Any:
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db("default", [field.attname for field in fields], converted)


def apikey_with_tenant(*, key_prefix: str | None = None, key_hash: str | None = None) -> ApiKey | None:
    """The key with the given public id (or hash), its tenant and the tenant's configuration, in one query."""
    column, value = ("key_prefix", key_prefix) if key_prefix is not None else ("key_hash", key_hash)
    with connection.cursor() as cursor:
        _KEY_LOOKUPS[column].execute(cursor, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    widths = [len(model._meta.concrete_fields) for model, _ in _KEY_MODELS]
    key_values, tenant_values, config_values = (
        row[: widths[0]],
        row[widths[0] : widths[0] + widths[1]],
        row[widths[0] + widths[1] :],
    )
    key, tenant = _instance(ApiKey, key_values), _instance(Tenant, tenant_values)
    config = _instance(TenantConfig, config_values) if config_values[0] is not None else None
    key.tenant = tenant
    if config is not None:
        tenant.config = config
    return key
