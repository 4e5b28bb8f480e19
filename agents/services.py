"""Operations on agents: the one place that creates and changes them, whichever door asks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import RestrictedError
from django.utils import timezone

from agents import hooks
from agents.models import Agent, AgentStatus
from agents.policy import AGENT_FIELD_WRITERS
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, NotFound, invalid, not_allowed
from mcpadmin.core.fields import field_refusal
from mcpadmin.core.validation import UNSET, clean_object, clean_tags, clean_text
from tenants.models import Tenant

MAX_NAME_LENGTH = 255


@transaction.atomic
def agent_create(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str,
    description: str = "",
    capabilities: list[str] | None = None,
    teams: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    status: str = AgentStatus.ACTIVE,
) -> Agent:
    """A new agent of `tenant`; names are unique per tenant."""
    actor.check_tenant(tenant.id)
    if not actor.manages_tenant:
        raise not_allowed("Only admin, service and gateway keys create agents.")
    if status not in AgentStatus.values:
        raise invalid("status", f"status must be one of {', '.join(AgentStatus.values)}.")
    name = clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    agent = Agent(
        tenant=tenant,
        name=name,
        description=clean_text(description, "description", 10_000, required=False),
        capabilities=clean_tags(capabilities or [], "capabilities"),
        teams=clean_tags(teams or [], "teams"),
        metadata=clean_object(metadata if metadata is not None else {}, "metadata"),
        status=status,
    )
    try:
        with transaction.atomic():
            agent.save(force_insert=True)
    except IntegrityError as error:
        raise Conflict("agent_exists", f"The tenant has an agent named {name!r}.", {"name": [name]}) from error
    return agent


def agent_update(
    *,
    actor: Actor,
    agent_id: Any,
    name: str = UNSET,
    description: str = UNSET,
    capabilities: list[str] = UNSET,
    teams: list[str] = UNSET,
    metadata: dict[str, Any] = UNSET,
    status: str = UNSET,
) -> Agent:
    """Changes the given fields, as `agents.policy.AGENT_FIELD_WRITERS` allows the caller: an agent key edits
    its own profile, never its teams, capabilities or status.

    An agent enabled or given capabilities then picks up the waiting workflow tasks it now qualifies for.
    """
    agent = _agent_update(
        actor=actor,
        agent_id=agent_id,
        name=name,
        description=description,
        capabilities=capabilities,
        teams=teams,
        metadata=metadata,
        status=status,
    )
    if status is not UNSET or capabilities is not UNSET:
        hooks.announce_available(agent)
    return agent


@transaction.atomic
def _agent_update(
    *,
    actor: Actor,
    agent_id: Any,
    name: str,
    description: str,
    capabilities: list[str],
    teams: list[str],
    metadata: dict[str, Any],
    status: str,
) -> Agent:
    agent = Agent.objects.visible_to(actor).select_for_update().filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    given = {
        field: value
        for field, value in {
            "name": name,
            "description": description,
            "capabilities": capabilities,
            "teams": teams,
            "metadata": metadata,
            "status": status,
        }.items()
        if value is not UNSET
    }
    refusal = field_refusal(AGENT_FIELD_WRITERS, actor, given, what="an agent")
    if refusal is not None:
        raise refusal
    if status is not UNSET:
        if status not in AgentStatus.values:
            raise invalid("status", f"status must be one of {', '.join(AgentStatus.values)}.")
        agent.status = status
    if name is not UNSET:
        agent.name = clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    if description is not UNSET:
        agent.description = clean_text(description, "description", 10_000, required=False)
    if capabilities is not UNSET:
        agent.capabilities = clean_tags(capabilities, "capabilities")
    if teams is not UNSET:
        agent.teams = clean_tags(teams, "teams")
    if metadata is not UNSET:
        agent.metadata = clean_object(metadata, "metadata")
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError as error:
        raise Conflict(
            "agent_exists", f"The tenant has an agent named {agent.name!r}.", {"name": [agent.name]}
        ) from error
    return agent


def agent_heartbeat(*, actor: Actor, agent_id: Any, now: datetime | None = None) -> Agent:
    """Records that the agent is alive (`last_seen_at`); an agent key beats only for its own agent.

    Then, in transactions of their own, hands out the waiting workflow tasks
    this agent qualifies for (docs, "Workflows": assignment): an agent
    coming online picks up what waited for it.
    """
    with transaction.atomic():
        agent = Agent.objects.visible_to(actor).filter(pk=agent_id).first()
        if agent is None:
            raise NotFound("No such agent.")
        if not (actor.manages_tenant or actor.is_agent):
            raise not_allowed("This key may not send heartbeats.")
        agent.last_seen_at = now or timezone.now()
        Agent.objects.filter(pk=agent.pk).update(last_seen_at=agent.last_seen_at, updated_at=agent.last_seen_at)
    hooks.announce_available(agent)
    return agent


def agent_check_deletable(*, actor: Actor, agent_id: Any) -> Agent:
    """The agent, if it may be deleted now; else the Conflict saying why (the admin asks before it offers to).

    Apps above register their refusals on `agents.hooks.on_agent_delete` (tasks: an agent with tasks that are not
    completed or cancelled stays, else they would be left assigned to nobody).
    """
    agent = Agent.objects.visible_to(actor).filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    if not actor.manages_tenant:
        raise not_allowed("Only admin, service and gateway keys delete agents.")
    hooks.check_deletable(agent)
    return agent


@transaction.atomic
def agent_delete(*, actor: Actor, agent_id: Any) -> None:
    """Deletes an agent that has no open work and appears in no history; the others are disabled instead.

    The row is locked first (FOR UPDATE): an assignment share-locks its agent
    (`agents.selectors.agent_share_locked`), so no task can be given to the
    agent between the check and the delete. Its final tasks keep their
    history with no assignee; memberships go with it.
    """
    locked = Agent.objects.visible_to(actor).select_for_update().filter(pk=agent_id).first()
    if locked is None:
        raise NotFound("No such agent.")
    agent = agent_check_deletable(actor=actor, agent_id=locked.pk)
    try:
        with transaction.atomic():
            agent.delete()
            with connection.cursor() as cursor:
                # The deferred checks (a workspace's last owner) now, where a refusal can be explained, then back to
                # deferred (every deferrable constraint of the schema is INITIALLY DEFERRED).
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except RestrictedError as error:
        referenced_by = sorted({str(obj._meta.verbose_name_plural) for obj in error.restricted_objects})
        raise Conflict(
            "agent_referenced",
            f"The agent {agent.name!r} is named by {', '.join(referenced_by)}, which keep it: disable it instead.",
            {"referenced_by": referenced_by},
        ) from error
    except IntegrityError as error:  # after RestrictedError, its subclass
        raise Conflict(
            "agent_referenced",
            f"The agent {agent.name!r} cannot go: {str(error).splitlines()[0]}. Disable it instead.",
            {"agent": [str(error).splitlines()[0]]},
        ) from error
