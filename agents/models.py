"""Agents: the workers of a tenant."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from mcpadmin.core.actor import Actor
from mcpadmin.db.fields import created_at, updated_at, uuid_pk
from mcpadmin.db.querysets import TenantQuerySet


class AgentStatus(models.TextChoices):
    ACTIVE = "active"
    DISABLED = "disabled"


class AgentQuerySet(TenantQuerySet):
    def visible_to(self, actor: Actor) -> AgentQuerySet:
        """An agent key sees only its own agent; every other caller, all agents of its tenant (operators: all)."""
        agents = super().visible_to(actor)
        return agents.filter(pk=actor.agent_id) if actor.is_agent else agents


class Agent(models.Model):
    """A worker of a tenant; `last_seen_at` (heartbeats) tells whether it is online."""

    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="agents", db_index=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="", db_default="")
    capabilities = ArrayField(models.CharField(max_length=100), default=list, db_default=[], blank=True)
    #: Team tags, matched against a workspace's `team_tags` for `team` visibility.
    teams = ArrayField(models.CharField(max_length=100), default=list, db_default=[], blank=True)
    status = models.CharField(
        max_length=20, choices=AgentStatus.choices, default=AgentStatus.ACTIVE, db_default=AgentStatus.ACTIVE
    )
    metadata = models.JSONField(default=dict, db_default={}, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    objects = AgentQuerySet.as_manager()

    class Meta:
        db_table = "agents"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="agents_tenant_name_key"),
            models.CheckConstraint(condition=Q(status__in=AgentStatus.values), name="agents_status_check"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "last_seen_at"], name="idx_agents_tenant_status_seen"),
            GinIndex(fields=["capabilities"], name="idx_agents_capabilities"),
        ]

    def __str__(self) -> str:
        return self.name
