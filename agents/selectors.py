"""Reads of agents: who sees which, whether one is online, the share-locked read that assignment takes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from agents.models import Agent, AgentStatus
from mcpadmin.core.errors import Conflict, invalid


def online_since(now: datetime | None = None) -> datetime:
    """Agents seen at or after this instant are online."""
    return (now or timezone.now()) - timedelta(seconds=settings.MCPADMIN_AGENT_ONLINE_WINDOW_SECONDS)


def agent_is_online(agent: Agent, now: datetime | None = None) -> bool:
    return agent.last_seen_at is not None and agent.last_seen_at >= online_since(now)


def agent_share_locked(tenant_id: Any, agent_id: Any) -> Agent | None:
    """The tenant's agent, share-locked until the transaction ends: it cannot be disabled (or deleted) meanwhile.

    FOR SHARE waits for a concurrent change of the agent to commit and then reads it as changed, so a status
    checked here holds for whatever this transaction then gives the agent.
    """
    found = list(
        Agent.objects.raw("SELECT * FROM agents WHERE id = %s AND tenant_id = %s FOR SHARE", [agent_id, tenant_id])
    )
    return found[0] if found else None


def assignable_agent(tenant_id: Any, agent_id: Any, field: str) -> Agent:
    """An active agent of the tenant, share-locked so that it cannot be disabled before this transaction ends."""
    try:
        agent_id = uuid.UUID(str(agent_id))
    except ValueError as error:
        raise invalid(field, "Must be a valid UUID.") from error
    agent = agent_share_locked(tenant_id, agent_id)
    if agent is None:
        raise invalid(field, "No such agent in this tenant.")
    if agent.status != AgentStatus.ACTIVE:
        raise Conflict(
            "agent_disabled", "A disabled agent receives no new assignments or delegations.", {field: [str(agent_id)]}
        )
    return agent
