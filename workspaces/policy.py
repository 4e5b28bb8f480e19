"""Who may do what in a workspace: the one place where roles and visibility are decided.

Members are agents. A caller's standing in a workspace comes from its key (`mcpadmin.core.actor.Actor`):

- a key of another tenant: may read a `public` workspace (and its content), nothing else;
- an `admin`, `service` or `gateway` key of the tenant: the tenant's authority, every action;
- an `agent` key: the membership role of its agent; without one, a reader where visibility allows
  (`organization`; `team` when the agent shares a team tag with the workspace; `public`);
- a `user` key: a reader of `organization` and `public` workspaces.

Roles, each able to do what the ones before it can: `viewer` reads; `contributor` also writes
content; `moderator` also manages contributors' content and viewer/contributor members; `admin`
also manages every member but owners, and the workspace's settings; `owner` everything,
including deleting and transferring the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcpadmin.core.access import TENANT_AUTHORITY_KEY_TYPES, KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError
from workspaces.models import MemberRole, Workspace, WorkspaceVisibility

ROLE_ORDER = [MemberRole.VIEWER, MemberRole.CONTRIBUTOR, MemberRole.MODERATOR, MemberRole.ADMIN, MemberRole.OWNER]
ROLE_RANK = {role: rank for rank, role in enumerate(ROLE_ORDER)}

READ = "read"  # the workspace, its members, its content
WRITE_CONTENT = "write_content"  # ingest into its collections, create and work its tasks
MANAGE_CONTENT = "manage_content"  # change or delete others' content
MANAGE_MEMBERS = "manage_members"  # some members: see `may_manage_member`
UPDATE_SETTINGS = "update_settings"  # name, description, visibility, team tags, settings
DELETE = "delete"
TRANSFER = "transfer"
ACTIONS = (READ, WRITE_CONTENT, MANAGE_CONTENT, MANAGE_MEMBERS, UPDATE_SETTINGS, DELETE, TRANSFER)

#: The least role that may do each action.
MIN_ROLE = {
    READ: MemberRole.VIEWER,
    WRITE_CONTENT: MemberRole.CONTRIBUTOR,
    MANAGE_CONTENT: MemberRole.MODERATOR,
    MANAGE_MEMBERS: MemberRole.MODERATOR,
    UPDATE_SETTINGS: MemberRole.ADMIN,
    DELETE: MemberRole.OWNER,
    TRANSFER: MemberRole.OWNER,
}

#: Member roles a role may grant, change or remove (moderators: viewers and contributors only).
MANAGEABLE_ROLES = {
    MemberRole.MODERATOR: {MemberRole.VIEWER, MemberRole.CONTRIBUTOR},
    MemberRole.ADMIN: {MemberRole.VIEWER, MemberRole.CONTRIBUTOR, MemberRole.MODERATOR, MemberRole.ADMIN},
    MemberRole.OWNER: set(MemberRole.values),
}


@dataclass(frozen=True)
class WorkspaceAccess:
    """A caller's standing in one workspace."""

    visible: bool
    role: str | None = None  # its agent's membership role, or OWNER for tenant authority
    is_member: bool = False
    tenant_authority: bool = False

    def can(self, action: str) -> bool:
        if not self.visible:
            return False
        if action == READ:
            return True
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[MIN_ROLE[action]]

    def may_manage_member(self, current_role: str | None, new_role: str | None) -> bool:
        """May this caller move a member from `current_role` to `new_role` (None: not a member / removed)?"""
        if not self.can(MANAGE_MEMBERS):
            return False
        allowed = MANAGEABLE_ROLES.get(self.role, set())
        return all(role is None or role in allowed for role in (current_role, new_role))


NO_ACCESS = WorkspaceAccess(visible=False)
#: Tenant authority: an admin, service or gateway key of the tenant; an operator or command anywhere.
OPERATOR = WorkspaceAccess(visible=True, role=MemberRole.OWNER, tenant_authority=True)


def _shares_team(agent: Any, workspace: Workspace) -> bool:
    return bool(set(agent.teams or []) & set(workspace.team_tags or []))


def access_for(
    actor: Actor, workspace: Workspace, *, membership_role: str | None = None, membership_known: bool = False
) -> WorkspaceAccess:
    """The caller's standing; `membership_role` may be passed when already known (saves a query), with
    `membership_known=True` when None means "not a member" (a page of workspaces asks once for all of them).

    Operators and commands have the tenant's authority in every tenant.
    """
    if actor.is_operator:
        return OPERATOR
    if actor.tenant_id != workspace.tenant_id:
        return WorkspaceAccess(visible=True) if workspace.visibility == WorkspaceVisibility.PUBLIC else NO_ACCESS
    if actor.key_type in TENANT_AUTHORITY_KEY_TYPES:
        return OPERATOR
    open_to_tenant = workspace.visibility in (WorkspaceVisibility.ORGANIZATION, WorkspaceVisibility.PUBLIC)
    if actor.key_type != KeyType.AGENT or actor.agent_id is None:
        return WorkspaceAccess(visible=open_to_tenant)
    if membership_role is None and not membership_known:
        membership_role = workspace.members.filter(agent_id=actor.agent_id).values_list("role", flat=True).first()
    if membership_role is not None:
        return WorkspaceAccess(visible=True, role=membership_role, is_member=True)
    if workspace.visibility == WorkspaceVisibility.TEAM and _shares_team(actor.agent, workspace):
        return WorkspaceAccess(visible=True)
    return WorkspaceAccess(visible=open_to_tenant)


#: What keys of another tenant never see of a public workspace and its content, nor filter by: the owning
#: tenant's own ids (the tenant, its agents, keys and links between its objects) and its internal settings.
#: Shown as null (`{}` for objects); a filter on one of them is refused (400), so that it cannot be inferred.
HIDDEN_FROM_OTHER_TENANTS: dict[str, tuple[str, ...]] = {
    "workspace": ("tenant_id", "team_tags", "settings"),
    "task": (
        "tenant_id",
        "assigned_agent_id",
        "parent_task_id",
        "workflow_execution_id",
        "created_by_key_id",
        "metadata",
    ),
    "document": ("agent_id",),
}


def hidden_from(actor: Actor, tenant_id: Any, kind: str) -> tuple[str, ...]:
    """The fields of a `kind` object of `tenant_id` that `actor` may neither see nor filter by."""
    if actor.is_operator or actor.tenant_id == tenant_id:
        return ()
    return HIDDEN_FROM_OTHER_TENANTS[kind]


def redacted(data: dict[str, Any], hidden: tuple[str, ...]) -> dict[str, Any]:
    """`data` with the hidden fields emptied (null, or `{}` for objects), keys kept so the shape stays the same."""
    if not hidden:
        return data
    return {**data, **{name: {} if isinstance(data.get(name), dict) else None for name in hidden if name in data}}


def refuse_hidden_filters(names: Any, hidden: tuple[str, ...]) -> None:
    """A filter on a hidden field would confirm what the redaction hides: 400 naming it."""
    refused = sorted(set(names) & set(hidden))
    if refused:
        raise DomainError(
            "invalid",
            f"{', '.join(refused)} cannot be filtered on another tenant's content.",
            {name: ["not filterable across tenants"] for name in refused},
        )
