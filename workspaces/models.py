"""Workspaces, their members (agents) and visibility."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Exists, OuterRef, Q

from mcpadmin.core.access import TENANT_AUTHORITY_KEY_TYPES, KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.db.fields import EnumField, created_at, updated_at, uuid_pk
from mcpadmin.db.querysets import TenantQuerySet


class WorkspaceVisibility(models.TextChoices):
    """Labels of the enum type `workspace_visibility`, in its order."""

    PRIVATE = "private"
    TEAM = "team"
    ORGANIZATION = "organization"
    PUBLIC = "public"


#: Visibilities that open a workspace to every key of its tenant.
OPEN_TO_TENANT = (WorkspaceVisibility.ORGANIZATION, WorkspaceVisibility.PUBLIC)


class MemberRole(models.TextChoices):
    """Labels of the enum type `member_role`, in its order (each role can do what those before it can)."""

    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    MODERATOR = "moderator"
    ADMIN = "admin"
    OWNER = "owner"


class WorkspaceQuerySet(TenantQuerySet):
    def visible_to(self, actor: Actor, *, include_public: bool = False) -> WorkspaceQuerySet:
        """The workspaces of the caller's tenant it may read, and with `include_public` other tenants' public ones.

        The same rules as `workspaces.policy.access_for`, as one query (tests check that they agree).
        """
        if actor.is_operator:
            return self.all()
        if actor.key_type in TENANT_AUTHORITY_KEY_TYPES:
            visible = Q()
        elif actor.key_type == KeyType.AGENT and actor.agent_id is not None:
            membership = WorkspaceMember.objects.filter(workspace=OuterRef("pk"), agent_id=actor.agent_id)
            teams = list(actor.agent.teams or [])
            visible = Q(visibility__in=OPEN_TO_TENANT) | Q(Exists(membership))
            if teams:
                visible |= Q(visibility=WorkspaceVisibility.TEAM, team_tags__overlap=teams)
        else:
            visible = Q(visibility__in=OPEN_TO_TENANT)
        own = Q(tenant_id=actor.tenant_id) & visible
        return self.filter(own | Q(visibility=WorkspaceVisibility.PUBLIC) if include_public else own)


class Workspace(models.Model):
    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="workspaces", db_index=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="", db_default="")
    visibility = EnumField(
        enum_type="workspace_visibility",
        choices=WorkspaceVisibility.choices,
        default=WorkspaceVisibility.PRIVATE,
        db_default=WorkspaceVisibility.PRIVATE,
    )
    #: Team tags: with `team` visibility, agents sharing a tag with the workspace may read it.
    team_tags = ArrayField(models.CharField(max_length=100), default=list, db_default=[], blank=True)
    settings = models.JSONField(default=dict, db_default={}, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        db_table = "workspaces"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="workspaces_tenant_name_key")]

    def __str__(self) -> str:
        return self.name


class WorkspaceMember(models.Model):
    """An agent's membership of a workspace, with its role."""

    id = uuid_pk()
    # The unique (workspace, agent) index serves lookups by workspace.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="members", db_index=False)
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="workspace_memberships")
    role = EnumField(
        enum_type="member_role", choices=MemberRole.choices, default=MemberRole.VIEWER, db_default=MemberRole.VIEWER
    )
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "workspace_members"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "agent"], name="workspace_members_workspace_agent_key")
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.workspace} as {self.role}"
