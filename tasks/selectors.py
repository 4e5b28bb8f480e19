"""Reads of agents and tasks that are more than a filter: who sees what, history, escalation targets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agents.models import Agent, AgentStatus
from agents.selectors import agent_share_locked
from tasks.models import Task, TaskDelegationHistory, TaskStateTransition
from tenants.models import TenantConfig

if TYPE_CHECKING:
    pass

#: The member of `tenant_config.features` that names the tenant's escalation agent (a UUID).
ESCALATION_AGENT_FEATURE = "escalation_agent_id"


_EPOCH = datetime.min.replace(tzinfo=UTC)


def task_history(task_id: Any) -> list[dict[str, Any]]:
    """Transitions and delegations of a task in time order (a transition before a delegation of the same instant)."""
    events: list[dict[str, Any]] = [
        {"type": "transition", "agent_id": row.pop("transitioned_by_id"), **row}
        for row in TaskStateTransition.objects.filter(task_id=task_id).values(
            "id", "created_at", "from_status", "to_status", "transitioned_by_id", "reason", "metadata"
        )
    ]
    events += [
        {"type": "delegation", **row}
        for row in TaskDelegationHistory.objects.filter(task_id=task_id).values(
            "id", "created_at", "from_agent_id", "to_agent_id", "delegation_type", "reason", "metadata"
        )
    ]
    events.sort(key=lambda event: (event["created_at"] or _EPOCH, event["type"] != "transition"))
    return events


def escalation_agent_for(task: Task) -> tuple[Agent | None, str]:
    """The agent a task's escalation is delegated to (`features.escalation_agent_id` of its tenant), and why not."""
    features = TenantConfig.objects.filter(tenant_id=task.tenant_id).values_list("features", flat=True).first()
    raw = (features or {}).get(ESCALATION_AGENT_FEATURE)
    if raw in (None, ""):
        return None, "no escalation agent configured"
    try:
        agent_id = uuid.UUID(str(raw))
    except ValueError:
        return None, f"features.{ESCALATION_AGENT_FEATURE} is not a UUID"
    agent = agent_share_locked(task.tenant_id, agent_id)  # never a delegation to an agent disabled meanwhile
    if agent is None:
        return None, "the configured escalation agent does not exist in this tenant"
    if agent.status != AgentStatus.ACTIVE:
        return None, "the configured escalation agent is disabled"
    if agent.pk == task.assigned_agent_id:
        return None, "the escalation agent is the task's assignee"
    return agent, "supervision delegated to the escalation agent"
