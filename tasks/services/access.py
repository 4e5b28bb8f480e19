"""Who may do what with a task (docs, "Agents and tasks" and "Workspaces"), decided in one place.

Admin, service and gateway keys (and operators, commands) may do anything
within their tenant; an agent key works the tasks assigned to its agent and
reads those delegated to it; a user key reads, creates, and cancels the tasks
it created. A task of a workspace is also under the workspace's rules, decided
by `workspaces.policy` from the caller: reading needs READ there, creating and
working WRITE_CONTENT (contributor and above), cancelling or editing others'
tasks MANAGE_CONTENT (moderator and above). A caller that may see a task but
not change it gets 403; one that may not see it, 404.
"""

from __future__ import annotations

from typing import Any

from agents.models import Agent
from agents.selectors import assignable_agent
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, Forbidden, NotFound, invalid, not_allowed
from tasks import state_machine
from tasks.models import Task, TaskStatus
from workspaces.models import Workspace
from workspaces.policy import MANAGE_CONTENT, READ, WRITE_CONTENT, WorkspaceAccess, access_for


def visible_task(actor: Actor, task_id: Any) -> Task:
    """The task if the caller may see it; 404 otherwise, exactly as for a task that does not exist."""
    task = Task.objects.visible_to(actor).filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    return task


def task_workspace_access(actor: Actor, task: Task) -> WorkspaceAccess | None:
    """The caller's standing in the task's workspace; None for a task outside workspaces."""
    if task.workspace_id is None:
        return None
    return access_for(actor, Workspace.objects.get(pk=task.workspace_id))


def workspace_forbidden(access: WorkspaceAccess, action: str, message: str) -> Forbidden:
    """The 403 of a caller that sees the workspace's task but lacks the role `action` needs there."""
    return Forbidden("workspace_forbidden", message, {"action": action, "role": access.role})


def check_worker_of(workspace_id: Any, agent: Agent, field: str, *, handoff: bool = True) -> None:
    """A workspace's task goes to (or is handed off to) agents that may write there; it is shared for reading
    (collaboration, supervision, consultation) with agents that may read there. 409 otherwise."""
    if workspace_id is None:
        return
    access = access_for(Actor.for_agent(agent), Workspace.objects.get(pk=workspace_id))
    action = WRITE_CONTENT if handoff else READ
    if not access.can(action):
        raise Conflict(
            "agent_lacks_workspace_role",
            "A task of a workspace is worked by agents that may write there (contributor or above) and shared "
            "with agents that may read it.",
            {field: [str(agent.pk)], "action": action, "role": access.role},
        )


def creation_references(
    actor: Actor, tenant_id: Any, *, assigned_agent_id: Any, parent_task_id: Any, workspace_id: Any
) -> Agent | None:
    """Checks what a new task refers to (its workspace, assignee and parent) against the caller; returns the
    assignee. Unknown or invisible references are 422, as if they did not exist."""
    if workspace_id:
        workspace = Workspace.objects.filter(pk=workspace_id, tenant_id=tenant_id).first()
        access = access_for(actor, workspace) if workspace is not None else None
        if access is None or not access.visible:
            raise invalid("workspace_id", "No such workspace in this tenant.")
        if not access.can(WRITE_CONTENT):
            message = "Creating a task in this workspace needs a contributor's role there."
            raise workspace_forbidden(access, WRITE_CONTENT, message)
    agent = assignable_agent(tenant_id, assigned_agent_id, "assigned_agent_id") if assigned_agent_id else None
    if agent is not None:
        check_worker_of(workspace_id, agent, "assigned_agent_id")
    if parent_task_id and not Task.objects.visible_to(actor).filter(pk=parent_task_id, tenant_id=tenant_id).exists():
        raise invalid("parent_task_id", "No such task in this tenant.")
    return agent


def may_manage(actor: Actor, task: Task) -> bool:
    """Cancel and edit: tenant keys; in a workspace, agents with MANAGE_CONTENT, or WRITE_CONTENT for their own."""
    if actor.manages_tenant:
        return True
    access = task_workspace_access(actor, task) if actor.is_agent else None
    if access is None:
        return False
    own = task.created_by_key_id is not None and task.created_by_key_id == actor.key_id
    return access.can(MANAGE_CONTENT) or (own and access.can(WRITE_CONTENT))


def check_may_work(actor: Actor, task: Task) -> None:
    """The assignee of a workspace's task works it while it may write there."""
    access = task_workspace_access(actor, task)
    if access is not None and not access.can(WRITE_CONTENT):
        message = "Working a task of this workspace needs a contributor's role there."
        raise workspace_forbidden(access, WRITE_CONTENT, message)


def authorize_transition(actor: Actor, task: Task, to_status: str) -> None:
    """Who may move a task to `to_status`: tenant keys always; the assignee along `ASSIGNEE_TARGETS`; a manager
    of the task (or the user key that created it) to `cancelled`. 403 otherwise."""
    if actor.manages_tenant:
        return
    if actor.is_agent:
        if to_status == TaskStatus.CANCELLED and may_manage(actor, task):
            return
        if task.assigned_agent_id != actor.agent_id:
            raise Forbidden(
                "not_task_owner", "Only the task's assigned agent works it; a delegate may only read it.", {}
            )
        if to_status not in state_machine.ASSIGNEE_TARGETS:
            raise not_allowed(f"The assigned agent may not move its task to {to_status}.", to_status=to_status)
        check_may_work(actor, task)
        return
    if to_status == TaskStatus.CANCELLED and task.created_by_key_id == actor.key_id:
        return
    raise not_allowed("A user key may only cancel the tasks it created.", to_status=to_status)


def authorize_delegation(actor: Actor, task: Task) -> None:
    """Tenant keys delegate any task; an agent only the tasks assigned to it, while it may work them."""
    if actor.manages_tenant:
        return
    if not (actor.is_agent and task.assigned_agent_id == actor.agent_id):
        if actor.is_agent:
            raise Forbidden("not_task_owner", "Only the task's assigned agent delegates it.", {})
        raise not_allowed("A user key does not delegate tasks.")
    check_may_work(actor, task)


def authorize_escalation(actor: Actor) -> None:
    """Escalating (by hand or by the runner) is tenant authority's: admin, service and gateway keys."""
    if not actor.manages_tenant:
        raise not_allowed("Only admin, service and gateway keys escalate tasks.")
