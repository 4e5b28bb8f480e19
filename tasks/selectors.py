"""Reads of agents and tasks that are more than a filter: who sees what, history, escalation targets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tasks.models import (
    Agent,
    AgentStatus,
    DelegationType,
    Task,
    TaskDelegationHistory,
    TaskStateTransition,
    WorkflowExecution,
)
from tenants.models import TenantConfig
from tenants.selectors import workspaces_visible_to

if TYPE_CHECKING:
    from tasks.services import Actor

#: The member of `tenant_config.features` that names the tenant's escalation agent (a UUID).
ESCALATION_AGENT_FEATURE = "escalation_agent_id"


def online_since(now: datetime | None = None) -> datetime:
    """Agents seen at or after this instant are online."""
    return (now or timezone.now()) - timedelta(seconds=settings.MCPADMIN_AGENT_ONLINE_WINDOW_SECONDS)


def agent_is_online(agent: Agent, now: datetime | None = None) -> bool:
    return agent.last_seen_at is not None and agent.last_seen_at >= online_since(now)


def agents_visible_to(actor: Actor) -> QuerySet[Agent]:
    """An agent key sees only its own agent; every other caller, all agents of its tenant (operators: all)."""
    agents = Agent.objects.all()
    if actor.tenant_id is not None:
        agents = agents.filter(tenant_id=actor.tenant_id)
    if actor.is_agent:
        agents = agents.filter(pk=actor.agent_id)
    return agents


def tasks_shared_with(agent_id: Any) -> QuerySet[TaskDelegationHistory]:
    """Task ids an agent may read because a collaboration, supervision or consultation was delegated to it."""
    return (
        TaskDelegationHistory.objects.filter(to_agent_id=agent_id)
        .exclude(delegation_type=DelegationType.HANDOFF)
        .values("task_id")
    )


def tasks_visible_to(actor: Actor) -> QuerySet[Task]:
    """What a caller may see; everything else is 404 to it.

    Operators and commands: every task. Admin, service and gateway keys:
    their tenant's tasks. User keys: their tenant's tasks outside workspaces,
    and those of the workspaces they may read. Agent keys: the tasks assigned
    to their agent, the tasks delegated to it for collaboration, supervision
    or consultation (read-only for it; a handoff moves the task itself), and
    the tasks of the workspaces it may read (README, "Workspaces").
    """
    tasks = Task.objects.all()
    if actor.tenant_id is not None:
        tasks = tasks.filter(tenant_id=actor.tenant_id)
    if actor.manages_tenant:
        return tasks
    readable_workspaces = Q(workspace_id__in=workspaces_visible_to(actor.principal).values("pk"))
    if actor.is_agent:
        return tasks.filter(
            Q(assigned_agent_id=actor.agent_id) | Q(pk__in=tasks_shared_with(actor.agent_id)) | readable_workspaces
        )
    return tasks.filter(Q(workspace_id__isnull=True) | readable_workspaces)


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


def agent_share_locked(tenant_id: Any, agent_id: Any) -> Agent | None:
    """The tenant's agent, share-locked until the transaction ends: it cannot be disabled (or deleted) meanwhile.

    FOR SHARE waits for a concurrent change of the agent to commit and then reads it as changed, so a status
    checked here holds for whatever this transaction then gives the agent.
    """
    found = list(
        Agent.objects.raw("SELECT * FROM agents WHERE id = %s AND tenant_id = %s FOR SHARE", [agent_id, tenant_id])
    )
    return found[0] if found else None


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


def _instant(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def execution_steps(execution: WorkflowExecution) -> list[dict[str, Any]]:
    """The per-step progress of an execution, in definition order, from its state (API and admin)."""
    from tasks.workflow_definition import compile_plan

    state = execution.state or {}
    if "definition" not in state:
        return []
    plan = compile_plan(state["workflow_type"], state["definition"])
    steps = []
    for node in plan.nodes:
        node_state = state["nodes"].get(node.id, {})
        slots = node_state.get("slots", [])
        steps.append(
            {
                "id": node.id,
                "kind": node.kind,
                "status": node_state.get("status", "waiting"),
                "started_at": _instant(node_state.get("started_at")),
                "finished_at": _instant(node_state.get("finished_at")),
                "output": node_state.get("output"),
                "error": node_state.get("error"),
                "tasks": [
                    {
                        "slot": index,
                        "task_id": slot.get("task_id"),
                        "status": slot["status"],
                        "item": slot.get("item"),
                        "error": slot.get("error"),
                    }
                    for index, slot in enumerate(slots)
                ],
            }
        )
    return steps
