"""What tasks require when an agent goes (registered on `agents.hooks`)."""

from __future__ import annotations

from agents.models import Agent
from mcpadmin.core.errors import Conflict
from tasks.models import FINAL_TASK_STATUSES, Task


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
