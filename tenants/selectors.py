"""Reads of workspaces: which ones a caller can see."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from apikeys.models import KeyType
from mcpadmin.api.errors import NotFound
from tenants.models import Workspace, WorkspaceMember, WorkspaceVisibility
from tenants.workspace_access import TENANT_AUTHORITY_KEY_TYPES, WorkspaceAccess, access_for

OPEN_TO_TENANT = [WorkspaceVisibility.ORGANIZATION, WorkspaceVisibility.PUBLIC]


def workspaces_visible_to(principal: Any, *, include_public: bool = False) -> QuerySet[Workspace]:
    """The workspaces of the caller's tenant it may read, and with `include_public` other tenants' public ones.

    The same rules as `workspace_access.access_for`, as one query (tests check that they agree).
    """
    own = Workspace.objects.filter(tenant_id=principal.tenant_id)
    if principal.key_type in TENANT_AUTHORITY_KEY_TYPES:
        visible = Q()
    elif principal.key_type == KeyType.AGENT and principal.agent_id is not None:
        membership = WorkspaceMember.objects.filter(workspace=OuterRef("pk"), agent_id=principal.agent_id)
        teams = list(principal.key.agent.teams or [])
        visible = Q(visibility__in=OPEN_TO_TENANT) | Q(Exists(membership))
        if teams:
            visible |= Q(visibility=WorkspaceVisibility.TEAM, team_tags__overlap=teams)
    else:
        visible = Q(visibility__in=OPEN_TO_TENANT)
    workspaces = own.filter(visible)
    if include_public:
        workspaces = Workspace.objects.filter(
            Q(pk__in=workspaces.values("pk")) | Q(visibility=WorkspaceVisibility.PUBLIC)
        )
    return workspaces.order_by("name", "id")


def workspace_for(principal: Any, workspace_id: Any) -> tuple[Workspace, WorkspaceAccess]:
    """The workspace and the caller's standing in it; 404 when it may not see it (as if it did not exist)."""
    try:
        pk = uuid.UUID(str(workspace_id))
    except ValueError as error:
        raise NotFound("No such workspace.") from error
    workspace = Workspace.objects.select_related("tenant").filter(pk=pk).first()
    access = access_for(principal, workspace) if workspace is not None else None
    if access is None or not access.visible:
        raise NotFound("No such workspace.")
    return workspace, access
