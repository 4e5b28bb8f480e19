"""Operations on tenants and their configuration: the one place that writes them."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from mcpadmin.api.errors import Conflict, DomainError, Forbidden, NotFound
from tasks.models import Agent, AgentStatus
from tenants import crypto
from tenants.config import ConfigErrors, validate_allowed_origins, validate_features, validate_rate_limit_config
from tenants.models import MemberRole, Tenant, TenantConfig, Workspace, WorkspaceMember, WorkspaceVisibility
from tenants.workspace_access import DELETE, MANAGE_MEMBERS, TRANSFER, UPDATE_SETTINGS, WorkspaceAccess

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


def service_token_public(provider: str, sealed: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a token: never the token."""
    return {"provider": provider, "last4": sealed.get("last4", ""), "updated_at": sealed.get("updated_at")}


def service_tokens_public(config: TenantConfig) -> list[dict[str, Any]]:
    return [service_token_public(p, sealed) for p, sealed in sorted((config.service_tokens or {}).items())]


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


# --- Workspaces -------------------------------------------------------------------
# Every function takes the caller's `WorkspaceAccess` (tenants.workspace_access): the API passes the
# caller's, the admin passes OPERATOR. Membership changes lock the workspace row, so that the rule
# "always at least one owner" holds under concurrent changes (a deferred trigger checks it too).

OPERATOR = WorkspaceAccess(visible=True, role=MemberRole.OWNER, tenant_authority=True)
MAX_TEAM_TAGS = 50
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


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
    if "settings" in fields and not isinstance(fields["settings"], dict):
        errors.add("settings", "must be an object")
    if "description" in fields and not isinstance(fields["description"], str):
        errors.add("description", "must be a string")
    if errors.errors:
        raise DomainError("invalid", "The workspace is not valid; see details.", errors.errors)
    return fields


def _workspace_agent(workspace: Workspace, agent_id: Any, field: str = "agent_id") -> Agent:
    agent = Agent.objects.filter(id=agent_id, tenant_id=workspace.tenant_id).first()
    if agent is None:
        raise DomainError("invalid", "No such agent in this tenant.", {field: ["No such agent."]})
    return agent


@transaction.atomic
def workspace_create(
    *,
    tenant: Tenant,
    owner: Agent,
    name: str,
    description: str = "",
    visibility: str = WorkspaceVisibility.PRIVATE,
    team_tags: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Workspace:
    """A workspace is born with its first owner, an active agent of the tenant."""
    fields = _validated_workspace_fields(
        {
            "name": name,
            "description": description,
            "visibility": visibility,
            "team_tags": team_tags or [],
            "settings": settings or {},
        }
    )
    if owner.tenant_id != tenant.id or owner.status != AgentStatus.ACTIVE:
        raise DomainError(
            "invalid", "The owner must be an active agent of the tenant.", {"owner_agent_id": ["invalid"]}
        )
    if Workspace.objects.filter(tenant=tenant, name=fields["name"]).exists():
        raise Conflict("workspace_exists", f"A workspace named {fields['name']!r} exists.", {"name": [fields["name"]]})
    workspace = Workspace.objects.create(tenant=tenant, **fields)
    WorkspaceMember.objects.create(workspace=workspace, agent=owner, role=MemberRole.OWNER)
    return workspace


@transaction.atomic
def workspace_update(*, access: WorkspaceAccess, workspace: Workspace, **fields: Any) -> Workspace:
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
def workspace_delete(*, access: WorkspaceAccess, workspace: Workspace) -> None:
    """Its members go with it; its tasks and collections stay, no longer in a workspace."""
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


@transaction.atomic
def workspace_member_add(
    *, access: WorkspaceAccess, workspace: Workspace, agent_id: Any, role: str = MemberRole.VIEWER
) -> WorkspaceMember:
    if role not in MemberRole.values:
        raise DomainError("invalid", f"role is one of {', '.join(MemberRole.values)}.", {"role": ["invalid"]})
    _require(access, MANAGE_MEMBERS)
    if not access.may_manage_member(None, role):
        raise _forbid_member_change(None, role)
    agent = _workspace_agent(workspace, agent_id)
    if agent.status != AgentStatus.ACTIVE:
        raise Conflict("agent_disabled", "A disabled agent cannot join a workspace.", {"agent_id": [str(agent.id)]})
    members = _lock_members(workspace)
    if agent.id in members:
        raise Conflict("already_member", "The agent is a member already.", {"agent_id": [str(agent.id)]})
    return WorkspaceMember.objects.create(workspace=workspace, agent=agent, role=role)


@transaction.atomic
def workspace_member_set_role(
    *, access: WorkspaceAccess, workspace: Workspace, agent_id: Any, role: str
) -> WorkspaceMember:
    if role not in MemberRole.values:
        raise DomainError("invalid", f"role is one of {', '.join(MemberRole.values)}.", {"role": ["invalid"]})
    members = _lock_members(workspace)
    member = members.get(_parse_uuid(agent_id))
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
def workspace_member_remove(
    *, access: WorkspaceAccess, workspace: Workspace, agent_id: Any, acting_agent_id: Any = None
) -> None:
    """Managers remove members they may manage; any member may leave (but the last owner)."""
    members = _lock_members(workspace)
    member = members.get(_parse_uuid(agent_id))
    if member is None:
        raise NotFound("No such member.")
    leaving = acting_agent_id is not None and member.agent_id == acting_agent_id
    if not leaving:
        _require(access, MANAGE_MEMBERS)
        if not access.may_manage_member(member.role, None):
            raise _forbid_member_change(member.role, None)
    _keep_an_owner(members, member.agent_id, None)
    member.delete()


@transaction.atomic
def workspace_transfer(
    *,
    access: WorkspaceAccess,
    workspace: Workspace,
    to_agent_id: Any,
    acting_agent_id: Any = None,
    demote_to: str | None = MemberRole.ADMIN,
) -> WorkspaceMember:
    """Makes `to_agent_id` an owner (joining it if needed); the acting owner then steps down to `demote_to`."""
    _require(access, TRANSFER)
    agent = _workspace_agent(workspace, to_agent_id, "to_agent_id")
    if agent.status != AgentStatus.ACTIVE:
        raise Conflict("agent_disabled", "A disabled agent cannot own a workspace.", {"to_agent_id": [str(agent.id)]})
    members = _lock_members(workspace)
    target = members.get(agent.id)
    if target is None:
        target = WorkspaceMember.objects.create(workspace=workspace, agent=agent, role=MemberRole.OWNER)
    elif target.role != MemberRole.OWNER:
        target.role = MemberRole.OWNER
        target.save(update_fields=["role", "updated_at"])
    acting = members.get(acting_agent_id) if acting_agent_id is not None else None
    if acting is not None and acting.agent_id != agent.id and demote_to is not None:
        if demote_to not in MemberRole.values:
            raise DomainError("invalid", "demote_to is a role.", {"demote_to": ["invalid"]})
        acting.role = demote_to
        acting.save(update_fields=["role", "updated_at"])
    return target


def _parse_uuid(value: Any) -> Any:
    import uuid

    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as error:
        raise NotFound("No such member.") from error
