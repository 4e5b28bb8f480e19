"""Tenants, their configuration, and workspaces."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from mcpadmin.db.fields import created_at, updated_at, uuid_pk


class Tenant(models.Model):
    """An isolated customer of the platform; every other object belongs to exactly one."""

    id = uuid_pk()
    name = models.CharField(max_length=255, unique=True)
    is_active = models.BooleanField(default=True, db_default=True)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "tenants"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantConfig(models.Model):
    """The spec's `tenant_config`: rate limits, encrypted service tokens, CORS origins, feature flags."""

    id = uuid_pk()
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="config")
    rate_limit_config = models.JSONField(default=dict, db_default={}, blank=True)
    service_tokens = models.JSONField(default=dict, db_default={}, null=True, blank=True)
    allowed_origins = ArrayField(models.TextField(), default=list, db_default=[], null=True, blank=True)
    features = models.JSONField(default=dict, db_default={}, null=True, blank=True)
    created_at = created_at(null=True)
    updated_at = updated_at(null=True)

    class Meta:
        db_table = "tenant_config"
        verbose_name = "tenant configuration"
        # CORS preflights ask "does any tenant allow this origin?" (allowed_origins @> ARRAY[origin]).
        indexes = [GinIndex(fields=["allowed_origins"], name="idx_tenant_config_origins")]

    def __str__(self) -> str:
        return f"configuration of {self.tenant}"
