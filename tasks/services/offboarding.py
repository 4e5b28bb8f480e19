"""What tasks require when an agent or a tenant goes (registered on `agents.hooks` and `tenants.hooks`)."""

from __future__ import annotations

from typing import Any

from agents.models import Agent
from mcpadmin.core.errors import Conflict
from tasks.models import FINAL_TASK_STATUSES, Task
from tenants.hooks import TenantData


def refuse_deleting_agent_with_open_tasks(agent: Agent) -> None:
    """An agent whose tasks are not all completed or cancelled stays: deleting it would leave them assigned to
    nobody (the database refuses that too: `tasks_assignee_required_check`). Disabling it is the way out."""
    open_tasks = Task.objects.filter(assigned_agent_id=agent.pk).exclude(status__in=FINAL_TASK_STATUSES)
    count = open_tasks.count()
    if count:
        raise Conflict(
            "agent_has_open_tasks",
            f"The agent {agent.name!r} has {count} task(s) that are not completed or cancelled: finish, cancel or "
            "reassign them first, or disable the agent (it then gets no new work and keeps its history).",
            {"open_tasks": count},
        )


def delete_tenant_tasks(tenant_id: Any) -> None:
    """The tenant's tasks (with their history and idempotency keys) go before its agents: the cascade from the
    tenant would otherwise first set the assignee of assigned tasks to NULL, which the database refuses."""
    Task.objects.filter(tenant_id=tenant_id).delete()


#: Tasks are counted by the cascade from the tenant; they only go first.
TENANT_TASKS = TenantData(count=lambda tenant_id: {}, delete=delete_tenant_tasks)
