"""Operations on tenants and their configuration: the one place that writes them."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from mcpadmin.core.errors import Conflict, DomainError, NotFound
from mcpadmin.core.validation import free_json_problem
from tenants import crypto
from tenants.config import ConfigErrors, validate_allowed_origins, validate_features, validate_rate_limit_config
from tenants.models import Tenant, TenantConfig
from tenants.selectors import service_token_public

PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_TOKEN_LENGTH = 8192
UNSET: Any = object()


def _validated_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise DomainError("invalid", "A tenant needs a name of 1 to 255 characters.", {"name": ["invalid length"]})
    return name


@transaction.atomic
def tenant_create(
    *,
    name: str,
    is_active: bool = True,
    rate_limit_config: dict[str, Any] | None = None,
    allowed_origins: list[str] | None = None,
    features: dict[str, Any] | None = None,
) -> Tenant:
    """A tenant always comes with its configuration row."""
    name = _validated_name(name)
    if Tenant.objects.filter(name=name).exists():
        raise Conflict("tenant_exists", f"A tenant named {name!r} exists.", {"name": [name]})
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(name=name, is_active=is_active)
    except IntegrityError as error:  # a concurrent create of the same name
        raise Conflict("tenant_exists", f"A tenant named {name!r} exists.", {"name": [name]}) from error
    TenantConfig.objects.create(tenant=tenant)
    tenant_config_update(
        tenant=tenant,
        rate_limit_config=rate_limit_config if rate_limit_config is not None else UNSET,
        allowed_origins=allowed_origins if allowed_origins is not None else UNSET,
        features=features if features is not None else UNSET,
    )
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, name: str | None = None, is_active: bool | None = None) -> Tenant:
    """Deactivating a tenant makes every one of its keys fail authentication at once."""
    if name is not None:
        tenant.name = _validated_name(name)
        if Tenant.objects.filter(name=tenant.name).exclude(pk=tenant.pk).exists():
            raise Conflict("tenant_exists", f"A tenant named {tenant.name!r} exists.", {"name": [tenant.name]})
    if is_active is not None:
        tenant.is_active = is_active
    tenant.save()
    return tenant


def tenant_config_of(tenant: Tenant) -> TenantConfig:
    """The tenant's configuration, created on first use for tenants made outside `tenant_create`."""
    try:
        return tenant.config
    except TenantConfig.DoesNotExist:
        config, _ = TenantConfig.objects.get_or_create(tenant=tenant)
        return config


def validate_config(*, rate_limit_config: Any = UNSET, allowed_origins: Any = UNSET, features: Any = UNSET) -> None:
    """Raises one DomainError naming every invalid path; used by the API and the admin alike."""
    errors = ConfigErrors()
    for name, value in (
        ("rate_limit_config", rate_limit_config),
        ("allowed_origins", allowed_origins),
        ("features", features),
    ):
        problem = free_json_problem(value, name) if value is not UNSET else None
        if problem:
            errors.add(name, problem)
    errors.raise_if_any()
    if rate_limit_config is not UNSET:
        validate_rate_limit_config(rate_limit_config, errors)
    if allowed_origins is not UNSET:
        validate_allowed_origins(allowed_origins, errors)
    if features is not UNSET:
        validate_features(features, errors)
    errors.raise_if_any()


@transaction.atomic
def tenant_config_update(
    *, tenant: Tenant, rate_limit_config: Any = UNSET, allowed_origins: Any = UNSET, features: Any = UNSET
) -> TenantConfig:
    """Replaces the given members whole (a PATCH of the config replaces `features`, not merges it)."""
    validate_config(rate_limit_config=rate_limit_config, allowed_origins=allowed_origins, features=features)
    tenant_config_of(tenant)
    config = TenantConfig.objects.select_for_update().get(tenant=tenant)
    if rate_limit_config is not UNSET:
        config.rate_limit_config = rate_limit_config
    if allowed_origins is not UNSET:
        config.allowed_origins = allowed_origins
    if features is not UNSET:
        config.features = features
    config.save()
    tenant.config = config
    return config


def _validated_provider(provider: str) -> str:
    if not PROVIDER_RE.match(provider or ""):
        raise DomainError(
            "invalid",
            "A provider name is 1-63 lowercase letters, digits, '.', '_' or '-'.",
            {"provider": ["invalid provider name"]},
        )
    return provider


@transaction.atomic
def service_token_set(*, tenant: Tenant, provider: str, token: str) -> dict[str, Any]:
    """Stores (or replaces) the tenant's token for `provider`, encrypted; returns its public view only."""
    _validated_provider(provider)
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_LENGTH:
        raise DomainError(
            "invalid",
            f"A token is a non-empty string of at most {MAX_TOKEN_LENGTH} characters.",
            {"token": ["invalid"]},
        )
    tenant_config_of(tenant)
    config = TenantConfig.objects.select_for_update().get(tenant=tenant)
    sealed = crypto.encrypt(token, tenant_id=str(tenant.id), provider=provider)
    sealed.update(last4=token[-4:] if len(token) >= 8 else "", updated_at=timezone.now().isoformat())
    config.service_tokens = {**(config.service_tokens or {}), provider: sealed}
    config.save(update_fields=["service_tokens", "updated_at"])
    tenant.config = config
    return service_token_public(provider, sealed)


@transaction.atomic
def service_token_delete(*, tenant: Tenant, provider: str) -> None:
    tenant_config_of(tenant)
    config = TenantConfig.objects.select_for_update().get(tenant=tenant)
    tokens = dict(config.service_tokens or {})
    if provider not in tokens:
        raise NotFound(f"No service token for provider {provider!r}.")
    del tokens[provider]
    config.service_tokens = tokens
    config.save(update_fields=["service_tokens", "updated_at"])
    tenant.config = config


def service_token_reveal(*, tenant: Tenant, provider: str) -> str:
    """The plaintext token, for the platform's own calls to the provider. Never returned by the API or admin."""
    config = TenantConfig.objects.filter(tenant=tenant).first()
    sealed = ((config.service_tokens if config else None) or {}).get(provider)
    if sealed is None:
        raise NotFound(f"No service token for provider {provider!r}.")
    return crypto.decrypt(sealed, tenant_id=str(tenant.id), provider=provider)


def service_tokens_rotate(*, batch_size: int = 100) -> dict[str, int]:
    """Re-encrypts, under the primary key, every token that an older key encrypted. Safe to re-run."""
    primary = crypto.primary_key_id()
    counts = {"tenants": 0, "tokens": 0}
    ids = list(
        TenantConfig.objects.exclude(service_tokens={}).exclude(service_tokens=None).values_list("id", flat=True)
    )
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            for config in TenantConfig.objects.select_for_update().filter(id__in=ids[start : start + batch_size]):
                tokens, changed = dict(config.service_tokens or {}), 0
                for provider, sealed in tokens.items():
                    if sealed.get("kid") == primary:
                        continue
                    plaintext = crypto.decrypt(sealed, tenant_id=str(config.tenant_id), provider=provider)
                    resealed = crypto.encrypt(plaintext, tenant_id=str(config.tenant_id), provider=provider)
                    tokens[provider] = {**sealed, **resealed}
                    changed += 1
                if changed:
                    config.service_tokens = tokens
                    config.save(update_fields=["service_tokens"])
                    counts["tenants"] += 1
                    counts["tokens"] += changed
    return counts
