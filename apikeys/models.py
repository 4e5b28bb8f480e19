"""Hierarchical API keys: only a hash and the public id are stored."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from mcpadmin.core.access import KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.db.fields import CurrentTimestamp, created_at, updated_at, uuid_pk
from mcpadmin.db.querysets import TenantQuerySet

#: A key and every key issued under it, transitively.
SUBTREE_SQL = """
WITH RECURSIVE tree AS (
    SELECT id FROM api_keys WHERE id = %s
    UNION
    SELECT child.id FROM api_keys child JOIN tree ON child.parent_key_id = tree.id
)
SELECT id FROM tree
"""


class ApiKeyQuerySet(TenantQuerySet):
    def visible_to(self, actor: Actor) -> ApiKeyQuerySet:
        """The keys a caller may see: every key of its tenant for an admin key, itself and its descendants for a
        gateway, none for other key types; operators see all.

        Seeing is not managing: `apikeys.services.apikey_check_manages` decides what may be rotated or revoked.
        """
        keys = super().visible_to(actor)
        if actor.is_operator or actor.key_type == KeyType.ADMIN:
            return keys
        if actor.key_type == KeyType.GATEWAY:
            return keys.filter(pk__in=RawSQL(SUBTREE_SQL, [actor.key_id]))  # noqa: S611 (a constant statement)
        return keys.none()


class ApiKey(models.Model):
    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="api_keys", db_index=False)
    name = models.CharField(max_length=255)
    #: The public id embedded in the key: how a presented key finds its row.
    key_prefix = models.CharField(max_length=32, unique=True)
    #: SHA-256/HMAC-SHA256 (hex) of the whole key; the key itself is never stored.
    key_hash = models.CharField(max_length=128, unique=True)
    key_type = models.CharField(max_length=50, choices=KeyType.choices, default=KeyType.USER, db_default=KeyType.USER)
    # RESTRICT: a parent cannot be deleted under its children, except when a tenant goes with all its keys.
    parent_key = models.ForeignKey("self", on_delete=models.RESTRICT, null=True, blank=True, related_name="child_keys")
    allowed_services = ArrayField(models.TextField(), default=list, db_default=[], null=True, blank=True)
    #: The agent an `agent` key acts as.
    agent = models.ForeignKey("agents.Agent", on_delete=models.RESTRICT, null=True, blank=True, related_name="api_keys")
    is_active = models.BooleanField(default=True, db_default=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, db_default={}, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        db_table = "api_keys"
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(key_type__in=KeyType.values), name="api_keys_key_type_check"),
            models.CheckConstraint(
                condition=~Q(key_type=KeyType.AGENT) | Q(agent__isnull=False), name="api_keys_agent_key_names_agent"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(is_active=False), name="api_keys_revoked_is_inactive"
            ),
            models.CheckConstraint(condition=~Q(parent_key=models.F("id")), name="api_keys_not_own_parent"),
        ]
        indexes = [models.Index(fields=["tenant", "key_type"], name="idx_api_keys_tenant_type")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_type}, {self.key_prefix})"


class RateLimitBucket(models.Model):
    """State of the rate limiter, one row per bucket (a key, a key and service, or a client's failures).

    UNLOGGED (see the migration): counters are written on every call, and a
    crash that empties the table only resets them.
    """

    bucket = models.CharField(max_length=200, primary_key=True)
    minute_start = models.DateTimeField(null=True, blank=True)
    minute_hits = models.IntegerField(default=0, db_default=0)
    hour_start = models.DateTimeField(null=True, blank=True)
    hour_hits = models.IntegerField(default=0, db_default=0)
    day_start = models.DateTimeField(null=True, blank=True)
    day_hits = models.IntegerField(default=0, db_default=0)
    #: GCRA's theoretical arrival time, for burst limits.
    tat = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now, db_default=CurrentTimestamp())

    class Meta:
        db_table = "rate_limit_buckets"
        indexes = [models.Index(fields=["updated_at"], name="idx_rate_limit_buckets_updated")]

    def __str__(self) -> str:
        return self.bucket
