"""The audit trail: one row per written row of a tracked table, written by database triggers.

One table for every tracked table (not pghistory's default of one snapshot table per model): the API and the
admin list a tenant's events across all objects with one indexed query, and a row holds only the names of the
changed columns and the values `audit.tracking` allows, never a whole row (secrets, document text, vectors).

Nothing refers to the tracked rows with a constraint: `tenant` and `key` are foreign keys without a database
constraint (`db_constraint=False`, DO_NOTHING), so an event outlives the tenant, key or object it describes and
no delete — by Django, plain SQL or a cascade — reaches this table.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from audit.tracking import TRACKED
from mcpadmin.core.access import KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.db.fields import CurrentTimestamp
from mcpadmin.db.querysets import TenantQuerySet


class AuditAction(models.TextChoices):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class AuditSource(models.TextChoices):
    """Who wrote, as the context of the writing process says (NULL: a writer that set no context)."""

    API = "api"
    ADMIN = "admin"
    COMMAND = "command"


class AuditEventQuerySet(TenantQuerySet):
    def visible_to(self, actor: Actor) -> AuditEventQuerySet:
        """Operators and commands see every event; an admin key, its tenant's; other keys none (the key-type
        matrix refuses them the `audit` service already; this keeps the rule true for any other caller)."""
        if actor.tenant_id is not None and actor.key_type != KeyType.ADMIN:
            return self.none()
        return super().visible_to(actor)


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_default=CurrentTimestamp())
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    #: The table written (`tasks`, `api_keys`, ...) and the primary key of the row.
    object_type = models.CharField(max_length=63)
    object_id = models.CharField(max_length=255)
    action = models.CharField(max_length=6, choices=AuditAction.choices)
    #: Insert: the columns given a value; update: the columns that changed; delete: none.
    changed_fields = ArrayField(models.TextField(), default=list)
    #: Values of the changed columns whose values are recorded (`audit.tracking`): before and after.
    old_values = models.JSONField(null=True)
    new_values = models.JSONField(null=True)
    #: Groups the events of one request or command (pghistory's context id).
    context_id = models.UUIDField(null=True)
    source = models.CharField(max_length=20, null=True, choices=AuditSource.choices)
    key = models.ForeignKey(
        "apikeys.ApiKey", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    key_type = models.CharField(max_length=50, null=True)
    #: The operator's username (admin) or the command's name.
    operator = models.CharField(max_length=255, null=True)
    user_id = models.IntegerField(null=True)
    request_id = models.CharField(max_length=64, null=True)
    client_ip = models.CharField(max_length=64, null=True)
    #: The database role and `application_name` of the writing connection: who wrote when no context is set.
    db_user = models.CharField(max_length=63)
    application_name = models.CharField(max_length=255, null=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "audit_events"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["tenant", "-id"], name="idx_audit_events_tenant"),
            models.Index(fields=["object_id", "object_type"], name="idx_audit_events_object"),
            models.Index(fields=["key"], name="idx_audit_events_key", condition=models.Q(key__isnull=False)),
            BrinIndex(fields=["created_at"], name="idx_audit_events_created"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


def _audited_proxy(tracked: type[models.Model], trigger: object) -> type[models.Model]:
    """A proxy of a tracked model that carries its audit trigger, so the trigger's migrations live in this app."""
    name = f"{tracked.__name__}Audit"
    meta = type("Meta", (), {"proxy": True, "app_label": "audit", "triggers": [trigger]})
    return type(name, (tracked,), {"__module__": __name__, "Meta": meta})


#: The proxy model of each tracked model (`TaskAudit`, ...): they add nothing but the trigger.
AUDITED_PROXIES = {spec.model: _audited_proxy(spec.model, spec.trigger()) for spec in TRACKED}
globals().update({proxy.__name__: proxy for proxy in AUDITED_PROXIES.values()})
