"""Reads of a tenant's configuration: what may be shown of it (service tokens never)."""

from __future__ import annotations

from typing import Any

from tenants.models import TenantConfig


def service_token_public(provider: str, sealed: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a token: never the token."""
    return {"provider": provider, "last4": sealed.get("last4", ""), "updated_at": sealed.get("updated_at")}


def service_tokens_public(config: TenantConfig) -> list[dict[str, Any]]:
    return [service_token_public(p, sealed) for p, sealed in sorted((config.service_tokens or {}).items())]
