"""Reads of workspaces: which ones a caller can see."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden, NotFound
from workspaces.models import Workspace, WorkspaceMember, WorkspaceVisibility
from workspaces.policy import WorkspaceAccess, access_for

OPEN_TO_TENANT = [WorkspaceVisibility.ORGANIZATION, WorkspaceVisibility.PUBLIC]


def workspace_for(actor: Actor, workspace_id: Any) -> tuple[Workspace, WorkspaceAccess]:
    """The workspace and the caller's standing in it; 404 when it may not see it (as if it did not exist)."""
    try:
        pk = uuid.UUID(str(workspace_id))
    except ValueError as error:
        raise NotFound("No such workspace.") from error
    workspace = Workspace.objects.select_related("tenant").filter(pk=pk).first()
    access = access_for(actor, workspace) if workspace is not None else None
    if access is None or not access.visible:
        raise NotFound("No such workspace.")
    return workspace, access


def workspace_of_own_tenant(actor: Actor, workspace_id: Any) -> tuple[Workspace, WorkspaceAccess]:
    """`workspace_for`, for what only keys of the workspace's tenant do: change it, see who works in it. A public
    workspace shows other tenants its content, nothing more (403)."""
    workspace, access = workspace_for(actor, workspace_id)
    if not actor.is_operator and workspace.tenant_id != actor.tenant_id:
        raise Forbidden("workspace_forbidden", "Only keys of the workspace's tenant may do this.")
    return workspace, access


def membership_roles(actor: Actor, workspaces: Any) -> dict[Any, str] | None:
    """The role of the caller's agent in each of `workspaces`, in one query; None for callers without an agent."""
    if actor.agent_id is None:
        return None
    ids = [workspace.pk for workspace in workspaces]
    rows = WorkspaceMember.objects.filter(workspace_id__in=ids, agent_id=actor.agent_id).values_list(
        "workspace_id", "role"
    )
    return dict(rows)


def workspace_members(actor: Actor, workspace_id: Any) -> QuerySet[WorkspaceMember]:
    """The members, for keys of the workspace's tenant only."""
    workspace, _ = workspace_of_own_tenant(actor, workspace_id)
    return workspace.members.select_related("agent").order_by("created_at", "agent_id")
