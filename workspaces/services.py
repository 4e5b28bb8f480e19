"""Operations on workspaces and their members: the one place that writes them."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db import transaction

from agents.models import Agent, AgentStatus
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, DomainError, Forbidden, NotFound, not_allowed
from mcpadmin.core.validation import free_json_problem
from tenants.config import ConfigErrors
from tenants.models import Tenant
from workspaces.models import MemberRole, Workspace, WorkspaceMember, WorkspaceVisibility
from workspaces.policy import DELETE, MANAGE_MEMBERS, TRANSFER, UPDATE_SETTINGS, WorkspaceAccess
from workspaces.selectors import workspace_of_own_tenant

# Every operation takes the caller (`Actor`) and decides by `workspaces.policy`. Membership changes lock the
# workspace row, so that the rule "always at least one owner" holds
# under concurrent changes (a deferred trigger checks it too).

MAX_TEAM_TAGS = 50


#: What a team tag is (the API's schema states it too).
TEAM_TAG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
_TAG_RE = re.compile(TEAM_TAG_PATTERN)


def _require(access: WorkspaceAccess, action: str) -> None:
    if not access.can(action):
        message = f"Your role in this workspace does not allow {action.replace('_', ' ')}."
        raise Forbidden("workspace_forbidden", message, {"action": action, "role": access.role})


def _validated_workspace_fields(fields: dict[str, Any]) -> dict[str, Any]:
    errors = ConfigErrors()
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"] or len(fields["name"]) > 255:
            errors.add("name", "1 to 255 characters")
    if "visibility" in fields and fields["visibility"] not in WorkspaceVisibility.values:
        errors.add("visibility", f"one of {', '.join(WorkspaceVisibility.values)}")
    if "team_tags" in fields:
        tags = fields["team_tags"]
        if not isinstance(tags, list) or len(tags) > MAX_TEAM_TAGS:
            errors.add("team_tags", f"a list of at most {MAX_TEAM_TAGS} tags")
        else:
            for index, tag in enumerate(tags):
                if not isinstance(tag, str) or not _TAG_RE.match(tag):
                    errors.add(f"team_tags[{index}]", "lowercase letters, digits, '.', '_' or '-' (at most 100)")
    if "settings" in fields:
        if not isinstance(fields["settings"], dict):
            errors.add("settings", "must be an object")
        elif problem := free_json_problem(fields["settings"], "settings"):
            errors.add("settings", problem)
    if "description" in fields and not isinstance(fields["description"], str):
        errors.add("description", "must be a string")
    if errors.errors:
        raise DomainError("invalid", "The workspace is not valid; see details.", errors.errors)
    return fields


def _member_agent(workspace: Workspace, agent_id: Any, field: str = "agent_id") -> Agent:
    agent = Agent.objects.filter(id=agent_id, tenant_id=workspace.tenant_id).first()
    if agent is None:
        raise DomainError("invalid", "No such agent in this tenant.", {field: ["No such agent."]})
    return agent


@transaction.atomic
def workspace_create(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str,
    owner_agent_id: Any = None,
    description: str = "",
    visibility: str = WorkspaceVisibility.PRIVATE,
    team_tags: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Workspace:
    """A workspace is born with its first owner, an active agent of the tenant.

    Tenant authority (admin, service, gateway keys; operators) names the owner; an agent key creates workspaces
    it owns itself; user keys create none.
    """
    actor.check_tenant(tenant.id)
    if actor.is_agent:
        if owner_agent_id is not None and str(owner_agent_id) != str(actor.agent_id):
            raise Forbidden("workspace_forbidden", "An agent key creates workspaces it owns itself.")
        owner_agent_id = actor.agent_id
    elif not actor.manages_tenant:
        raise not_allowed("Only admin, service, gateway and agent keys create workspaces.")
    if owner_agent_id is None:
        raise DomainError("invalid", "Name the first owner.", {"owner_agent_id": ["This field is required."]})
    fields = _validated_workspace_fields(
        {
            "name": name,
            "description": description,
            "visibility": visibility,
            "team_tags": team_tags or [],
            "settings": settings or {},
        }
    )
    owner = Agent.objects.filter(id=owner_agent_id, tenant_id=tenant.id).first()
    if owner is None:
        raise DomainError("invalid", "No such agent in this tenant.", {"owner_agent_id": ["No such agent."]})
    if owner.status != AgentStatus.ACTIVE:
        raise DomainError(
            "invalid", "The owner must be an active agent of the tenant.", {"owner_agent_id": ["invalid"]}
        )
    if Workspace.objects.filter(tenant=tenant, name=fields["name"]).exists():
        raise Conflict("workspace_exists", f"A workspace named {fields['name']!r} exists.", {"name": [fields["name"]]})
    workspace = Workspace.objects.create(tenant=tenant, **fields)
    WorkspaceMember.objects.create(workspace=workspace, agent=owner, role=MemberRole.OWNER)
    return workspace


@transaction.atomic
def workspace_update(*, actor: Actor, workspace_id: Any, **fields: Any) -> Workspace:
    workspace, access = workspace_of_own_tenant(actor, workspace_id)
    _require(access, UPDATE_SETTINGS)
    fields = _validated_workspace_fields(fields)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if (
        "name" in fields
        and Workspace.objects.filter(tenant_id=locked.tenant_id, name=fields["name"]).exclude(pk=locked.pk).exists()
    ):
        raise Conflict("workspace_exists", f"A workspace named {fields['name']!r} exists.", {"name": [fields["name"]]})
    for field, value in fields.items():
        setattr(locked, field, value)
    locked.save()
    return locked


@transaction.atomic
def workspace_delete(*, actor: Actor, workspace_id: Any) -> None:
    """Its members go with it; its tasks and collections stay, no longer in a workspace."""
    workspace, access = workspace_of_own_tenant(actor, workspace_id)
    _require(access, DELETE)
    Workspace.objects.filter(pk=workspace.pk).delete()


def _lock_members(workspace: Workspace) -> dict[Any, WorkspaceMember]:
    Workspace.objects.select_for_update().filter(pk=workspace.pk).exists()
    return {m.agent_id: m for m in WorkspaceMember.objects.filter(workspace=workspace)}


def _keep_an_owner(members: dict[Any, WorkspaceMember], agent_id: Any, new_role: str | None) -> None:
    owners = {a for a, m in members.items() if m.role == MemberRole.OWNER}
    if owners == {agent_id} and new_role != MemberRole.OWNER:
        raise Conflict("last_owner", "A workspace always keeps at least one owner; transfer it first.")


def _forbid_member_change(current: str | None, new: str | None) -> Forbidden:
    return Forbidden(
        "workspace_forbidden",
        "Your role in this workspace cannot manage members with that role.",
        {"current_role": current, "new_role": new},
    )


def _check_role(role: Any) -> None:
    if role not in MemberRole.values:
        raise DomainError("invalid", f"role is one of {', '.join(MemberRole.values)}.", {"role": ["invalid"]})


@transaction.atomic
def workspace_member_add(
    *, actor: Actor, workspace_id: Any, agent_id: Any, role: str = MemberRole.VIEWER
) -> WorkspaceMember:
    _check_role(role)
    workspace, access = workspace_of_own_tenant(actor, workspace_id)
    _require(access, MANAGE_MEMBERS)
    if not access.may_manage_member(None, role):
        raise _forbid_member_change(None, role)
    agent = _member_agent(workspace, agent_id)
    if agent.status != AgentStatus.ACTIVE:
        raise Conflict("agent_disabled", "A disabled agent cannot join a workspace.", {"agent_id": [str(agent.id)]})
    members = _lock_members(workspace)
    if agent.id in members:
        raise Conflict("already_member", "The agent is a member already.", {"agent_id": [str(agent.id)]})
    return WorkspaceMember.objects.create(workspace=workspace, agent=agent, role=role)


@transaction.atomic
def workspace_member_set_role(*, actor: Actor, workspace_id: Any, agent_id: Any, role: str) -> WorkspaceMember:
    _check_role(role)
    workspace, access = workspace_of_own_tenant(actor, workspace_id)
    members = _lock_members(workspace)
    member = members.get(_member_id(agent_id))
    if member is None:
        raise NotFound("No such member.")
    _require(access, MANAGE_MEMBERS)
    if not access.may_manage_member(member.role, role):
        raise _forbid_member_change(member.role, role)
    _keep_an_owner(members, member.agent_id, role)
    member.role = role
    member.save(update_fields=["role", "updated_at"])
    return member


@transaction.atomic
def workspace_member_remove(*, actor: Actor, workspace_id: Any, agent_id: Any) -> None:
    """Managers remove members they may manage; any member may leave (but the last owner)."""
    workspace, access = workspace_of_own_tenant(actor, workspace_id)
    members = _lock_members(workspace)
    member = members.get(_member_id(agent_id))
    if member is None:
        raise NotFound("No such member.")
    leaving = actor.agent_id is not None and member.agent_id == actor.agent_id
    if not leaving:
        _require(access, MANAGE_MEMBERS)
        if not access.may_manage_member(member.role, None):
            raise _forbid_member_change(member.role, None)
    _keep_an_owner(members, member.agent_id, None)
    member.delete()


@transaction.atomic
def workspace_transfer(
    *, actor: Actor, workspace_id: Any, to_agent_id: Any, demote_to: str | None = MemberRole.ADMIN
) -> WorkspaceMember:
    """Makes `to_agent_id` an owner (joining it if needed); the acting owner then steps down to `demote_to`."""
    workspace, access = workspace_of_own_tenant(actor, workspace_id)
    _require(access, TRANSFER)
    agent = _member_agent(workspace, to_agent_id, "to_agent_id")
    if agent.status != AgentStatus.ACTIVE:
        raise Conflict("agent_disabled", "A disabled agent cannot own a workspace.", {"to_agent_id": [str(agent.id)]})
    members = _lock_members(workspace)
    target = members.get(agent.id)
    if target is None:
        target = WorkspaceMember.objects.create(workspace=workspace, agent=agent, role=MemberRole.OWNER)
    elif target.role != MemberRole.OWNER:
        target.role = MemberRole.OWNER
        target.save(update_fields=["role", "updated_at"])
    acting = members.get(actor.agent_id) if actor.agent_id is not None else None
    if acting is not None and acting.agent_id != agent.id and demote_to is not None:
        if demote_to not in MemberRole.values:
            raise DomainError("invalid", "demote_to is a role.", {"demote_to": ["invalid"]})
        acting.role = demote_to
        acting.save(update_fields=["role", "updated_at"])
    return target


def _member_id(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as error:
        raise NotFound("No such member.") from error
