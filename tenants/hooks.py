"""Where apps above tenants take part in offboarding a tenant (`tenants.services.tenant_delete`).

The foreign keys to `tenants` cascade to most of a tenant's rows. Each app
registers here, in its `AppConfig.ready()`, what that cascade does not
reach (search statistics keyed by collection id, rate-limit counters keyed
by key id) and what must go before it (tasks, before their agents), so
tenants know nothing of the apps above them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TenantData:
    """An app's share of offboarding: `count(tenant_id)` -> rows per table that the cascade from `tenants` does not
    count; `delete(tenant_id)`, run before the cascade in the offboarding's transaction."""

    count: Callable[[Any], dict[str, int]]
    delete: Callable[[Any], None]


tenant_data: list[TenantData] = []


def on_tenant_delete(part: TenantData) -> None:
    """Registers an app's share (once: registering again is a no-op, so `ready()` may run twice in tests)."""
    if part not in tenant_data:
        tenant_data.append(part)
