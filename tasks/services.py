"""Operations on agents and tasks: the one place that writes them, whichever path (API, admin, command) asks.

Rules that must hold under concurrency are enforced here in one transaction
each, by conditional updates the database decides:

- a status change is a compare-and-set on the status (and assignee) the
  caller saw; of two racing changes from the same state exactly one wins,
  the other gets a 409 (`_change_status`, the single entry point of every
  status change, which also writes the `task_state_transitions` row);
- a delegation increments `delegation_count` only while it is below
  `max_delegations`, in the same UPDATE (`task_delegate`);
- an idempotent creation inserts its key in the transaction that creates the
  task; a duplicate waits on the key's unique index, then replays the first
  response (`task_create`);
- escalation runners lock due tasks with SKIP LOCKED (`task_escalate_due`).

Who may do what (README, "Agents and tasks"): admin, service and gateway keys
(and operators, commands) anything within their tenant; an agent key works
the tasks assigned to its agent and reads those delegated to it; a user key
reads, creates, and cancels the tasks it created. A task of a workspace is
also under the workspace's rules (README, "Workspaces"). A caller that may
see an object but not change it gets 403; one that may not see it, 404.

Workflows (`tasks.workflow_services`) hook in at two places: every status
change of a workflow's task locks its execution first and advances it in
the same transaction (`_change_status`, `_on_status_changed`), and an agent
that appears (heartbeat, enabled, new capabilities) picks up the workflow
tasks waiting for it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apikeys.models import KeyType
from apikeys.services import Principal
from mcpadmin.api.errors import Conflict, DomainError, Forbidden, NotFound
from tasks import state_machine
from tasks.models import (
    FINAL_TASK_STATUSES,
    Agent,
    AgentStatus,
    DelegationType,
    Task,
    TaskDelegationHistory,
    TaskIdempotencyKey,
    TaskPriority,
    TaskStateTransition,
    TaskStatus,
    WorkflowExecutionIdempotencyKey,
)
from tasks.selectors import agent_share_locked, agents_visible_to, escalation_agent_for, tasks_visible_to
from tenants.models import MemberRole, Tenant, Workspace
from tenants.workspace_access import (
    MANAGE_CONTENT,
    READ,
    WRITE_CONTENT,
    WorkspaceAccess,
    access_for,
    access_of_agent,
)

UNSET: Any = object()
MANAGING_KEY_TYPES = frozenset({KeyType.ADMIN, KeyType.SERVICE, KeyType.GATEWAY})
MAX_NAME_LENGTH = 255
MAX_TITLE_LENGTH = 500
MAX_TAG_LENGTH = 100
MAX_RETRIES_LIMIT = 100
MAX_ESCALATION_TIMEOUT = timedelta(days=30)
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_LOCK_NOT_AVAILABLE = "55P03"


# --- who acts -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: an API key (and the agent it acts as), an operator in the admin, or a command.

    Operators and commands have no tenant: they act on every tenant's objects.
    """

    source: str
    tenant_id: Any = None
    key_id: Any = None
    key_type: str | None = None
    agent_id: Any = None
    operator: str | None = None
    #: The calling key (API callers): workspaces decide by it (`tenants.workspace_access`).
    key: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def for_principal(cls, principal: Any) -> Actor:
        key = principal.key
        return cls(
            source="api",
            tenant_id=key.tenant_id,
            key_id=key.id,
            key_type=key.key_type,
            agent_id=key.agent_id if key.key_type == KeyType.AGENT else None,
            key=key,
        )

    @property
    def principal(self) -> Any:
        """The caller as `tenants.workspace_access` sees it; None for operators and commands."""
        return Principal(key=self.key) if self.key is not None else None

    @classmethod
    def for_operator(cls, username: str) -> Actor:
        return cls(source="admin", operator=username)

    @classmethod
    def for_command(cls, name: str) -> Actor:
        return cls(source="command", operator=name)

    @property
    def manages_tenant(self) -> bool:
        """Admin, service and gateway keys, operators and commands may do anything within their scope."""
        return self.key_type is None or self.key_type in MANAGING_KEY_TYPES

    @property
    def is_agent(self) -> bool:
        return self.key_type == KeyType.AGENT

    def audit(self) -> dict[str, Any]:
        """Who acted, for history metadata (`transitioned_by` holds only an agent)."""
        entry: dict[str, Any] = {"source": self.source}
        if self.key_id is not None:
            entry |= {"api_key_id": str(self.key_id), "key_type": self.key_type}
        if self.agent_id is not None:
            entry["agent_id"] = str(self.agent_id)
        if self.operator:
            entry["operator"] = self.operator
        return entry


def _invalid(field: str, message: str) -> DomainError:
    return DomainError("invalid", message, {field: [message]})


def _not_allowed(message: str, **details: Any) -> Forbidden:
    return Forbidden("action_not_allowed", message, details)


def _check_tenant(actor: Actor, tenant_id: Any) -> None:
    if actor.tenant_id is not None and actor.tenant_id != tenant_id:
        raise Forbidden("cross_tenant", "A key acts only within its own tenant.")


def _clean_text(value: Any, field: str, max_length: int, *, required: bool) -> str:
    if not isinstance(value, str):
        raise _invalid(field, f"{field} must be a string.")
    value = value.strip()
    if required and not value:
        raise _invalid(field, f"{field} may not be blank.")
    if len(value) > max_length:
        raise _invalid(field, f"{field} has at most {max_length} characters.")
    return value


def _clean_tags(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_LENGTH for tag in value):
        raise _invalid(field, f"{field} must be a list of strings of 1 to {MAX_TAG_LENGTH} characters.")
    return list(dict.fromkeys(value))


def _clean_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(field, f"{field} must be an object.")
    return value


# --- workspaces -----------------------------------------------------------------------------------------------
# A task of a workspace is also under the workspace's rules (README, "Workspaces": tasks in a workspace), decided
# by `tenants.workspace_access` from the caller's key: reading needs READ there, creating and working WRITE_CONTENT
# (contributor and above), cancelling or editing others' tasks MANAGE_CONTENT (moderator and above). Tenant
# authority (admin, service, gateway keys; operators; commands) may do everything.

OPERATOR_ACCESS = WorkspaceAccess(visible=True, role=MemberRole.OWNER, tenant_authority=True)


def _workspace_access(actor: Actor, workspace: Workspace) -> WorkspaceAccess:
    return OPERATOR_ACCESS if actor.key is None else access_for(actor.principal, workspace)


def _task_workspace_access(actor: Actor, task: Task) -> WorkspaceAccess | None:
    """The caller's standing in the task's workspace; None for a task outside workspaces."""
    if task.workspace_id is None:
        return None
    return _workspace_access(actor, Workspace.objects.get(pk=task.workspace_id))


def _workspace_forbidden(access: WorkspaceAccess, action: str, message: str) -> Forbidden:
    return Forbidden("workspace_forbidden", message, {"action": action, "role": access.role})


def _check_worker_of(workspace_id: Any, agent: Agent, field: str, *, handoff: bool = True) -> None:
    """A workspace's task goes to (or is handed off to) agents that may write there; it is shared for reading
    (collaboration, supervision, consultation) with agents that may read there. 409 otherwise."""
    if workspace_id is None:
        return
    access = access_of_agent(agent, Workspace.objects.get(pk=workspace_id))
    action = WRITE_CONTENT if handoff else READ
    if not access.can(action):
        raise Conflict(
            "agent_lacks_workspace_role",
            "A task of a workspace is worked by agents that may write there (contributor or above) and shared "
            "with agents that may read it.",
            {field: [str(agent.pk)], "action": action, "role": access.role},
        )


# --- agents ---------------------------------------------------------------------------------------------------


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
    _check_tenant(actor, tenant.id)
    if not actor.manages_tenant:
        raise _not_allowed("Only admin, service and gateway keys create agents.")
    if status not in AgentStatus.values:
        raise _invalid("status", f"status must be one of {', '.join(AgentStatus.values)}.")
    name = _clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    agent = Agent(
        tenant=tenant,
        name=name,
        description=_clean_text(description, "description", 10_000, required=False),
        capabilities=_clean_tags(capabilities or [], "capabilities"),
        teams=_clean_tags(teams or [], "teams"),
        metadata=_clean_object(metadata if metadata is not None else {}, "metadata"),
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
    """Changes the given fields. An agent key edits only its own profile, and may not enable or disable itself.

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
        _dispatch_waiting_tasks(agent)
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
    agent = agents_visible_to(actor).select_for_update().filter(pk=agent_id).first()
    if agent is None:
        raise NotFound("No such agent.")
    if not (actor.manages_tenant or actor.is_agent):
        raise _not_allowed("This key may not change agents.")
    if status is not UNSET:
        if not actor.manages_tenant:
            raise _not_allowed("An agent may not change its own status.", status=["not allowed for agent keys"])
        if status not in AgentStatus.values:
            raise _invalid("status", f"status must be one of {', '.join(AgentStatus.values)}.")
        agent.status = status
    if name is not UNSET:
        agent.name = _clean_text(name, "name", MAX_NAME_LENGTH, required=True)
    if description is not UNSET:
        agent.description = _clean_text(description, "description", 10_000, required=False)
    if capabilities is not UNSET:
        agent.capabilities = _clean_tags(capabilities, "capabilities")
    if teams is not UNSET:
        agent.teams = _clean_tags(teams, "teams")
    if metadata is not UNSET:
        agent.metadata = _clean_object(metadata, "metadata")
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
    this agent qualifies for (README, "Workflows": assignment): an agent
    coming online picks up what waited for it.
    """
    with transaction.atomic():
        agent = agents_visible_to(actor).filter(pk=agent_id).first()
        if agent is None:
            raise NotFound("No such agent.")
        if not (actor.manages_tenant or actor.is_agent):
            raise _not_allowed("This key may not send heartbeats.")
        agent.last_seen_at = now or timezone.now()
        Agent.objects.filter(pk=agent.pk).update(last_seen_at=agent.last_seen_at, updated_at=agent.last_seen_at)
    _dispatch_waiting_tasks(agent)
    return agent


def _dispatch_waiting_tasks(agent: Agent) -> None:
    from tasks.workflow_services import workflow_tasks_dispatch

    workflow_tasks_dispatch(agent=agent)


def _assignable_agent(tenant_id: Any, agent_id: Any, field: str) -> Agent:
    """An active agent of the tenant, share-locked so that it cannot be disabled before this transaction ends."""
    try:
        agent_id = uuid.UUID(str(agent_id))
    except ValueError as error:
        raise _invalid(field, "Must be a valid UUID.") from error
    agent = agent_share_locked(tenant_id, agent_id)
    if agent is None:
        raise _invalid(field, "No such agent in this tenant.")
    if agent.status != AgentStatus.ACTIVE:
        raise Conflict(
            "agent_disabled", "A disabled agent receives no new assignments or delegations.", {field: [str(agent_id)]}
        )
    return agent


# --- tasks: creation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskCreation:
    """A created task, or the replay of the first response for the same Idempotency-Key."""

    task_id: Any
    replayed: bool
    task: Task | None = None
    response_status: int | None = None
    response_body: str | None = None


def idempotency_storage_key(tenant_id: Any, client_key: str) -> str:
    """`<tenant id>:<sha256 hex of the client's key>`: scoped by tenant, within the spec's 255 characters."""
    return f"{tenant_id}:{hashlib.sha256(client_key.encode()).hexdigest()}"


def validate_idempotency_key(value: str) -> str:
    """1 to 255 visible ASCII characters (0x21-0x7E)."""
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH or not all("!" <= char <= "~" for char in value):
        raise _invalid("Idempotency-Key", "The Idempotency-Key header must be 1 to 255 visible ASCII characters.")
    return value


class _KeyTaken(Exception):
    """The Idempotency-Key belongs to a committed, unexpired creation: this one is rolled back and that one replayed."""


#: The tables of stored Idempotency-Keys and the column naming what each key created.
IDEMPOTENCY_TABLES = {
    TaskIdempotencyKey: ("task_idempotency_keys", "task_id"),
    WorkflowExecutionIdempotencyKey: ("workflow_execution_idempotency_keys", "execution_id"),
}

_CLAIM_KEY_SQL = """
WITH bounded_wait AS MATERIALIZED (SELECT set_config('lock_timeout', %(wait)s, true))
INSERT INTO {table} AS k (idempotency_key, {created}, tenant_id, request_fingerprint, response_status,
                          response_body, created_at, expires_at)
SELECT %(key)s, %(created_id)s, %(tenant_id)s, %(fingerprint)s, 201, %(body)s, %(now)s, %(expires_at)s FROM bounded_wait
    ON CONFLICT (idempotency_key) DO UPDATE
   SET {created} = EXCLUDED.{created}, tenant_id = EXCLUDED.tenant_id,
       request_fingerprint = EXCLUDED.request_fingerprint, response_status = EXCLUDED.response_status,
       response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
 WHERE k.expires_at <= EXCLUDED.created_at
RETURNING 1
"""


def claim_idempotency_key(
    *,
    model: type[TaskIdempotencyKey] | type[WorkflowExecutionIdempotencyKey],
    stored_key: str,
    created_id: Any,
    tenant_id: Any,
    fingerprint: str,
    body: str | None,
    now: datetime,
) -> None:
    """Records the key and the first response, in the transaction that creates the object (one statement).

    A request with the same key that has not committed yet makes this INSERT
    wait on the primary key's index entry (at most
    MCPADMIN_IDEMPOTENCY_WAIT_SECONDS, then 409 with Retry-After); once that
    one commits, the conflict raises _KeyTaken and the caller replays it. If
    it rolls back instead, this INSERT goes through. An expired key is taken
    over.
    """
    table, created_column = IDEMPOTENCY_TABLES[model]
    params = {
        "wait": f"{settings.MCPADMIN_IDEMPOTENCY_WAIT_SECONDS}s",
        "key": stored_key,
        "created_id": created_id,
        "tenant_id": tenant_id,
        "fingerprint": fingerprint,
        "body": body,
        "now": now,
        "expires_at": now + timedelta(seconds=settings.MCPADMIN_IDEMPOTENCY_TTL_SECONDS),
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_KEY_SQL.format(table=table, created=created_column), params)
            claimed = cursor.fetchone() is not None
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        raise _in_flight() from error
    if not claimed:
        raise _KeyTaken


def previous_creation(
    *,
    model: type[TaskIdempotencyKey] | type[WorkflowExecutionIdempotencyKey],
    stored_key: str,
    fingerprint: str,
    refusal: Exception,
) -> Any:
    """The stored first creation for a key whose creation was refused or lost the race; re-raises otherwise.

    A retry of a creation that succeeded is answered by that creation, even
    if the same body would be refused now (its agent was disabled since, for
    instance). The same key with another body is 422.
    """
    previous = model.objects.filter(idempotency_key=stored_key, expires_at__gt=timezone.now()).first()
    if previous is None:
        if isinstance(refusal, _KeyTaken):  # it expired or its object was deleted a moment ago
            raise _in_flight() from refusal
        raise refusal
    if previous.request_fingerprint != fingerprint:
        raise DomainError(
            "idempotency_mismatch",
            "This Idempotency-Key was used with a different request body.",
            {"Idempotency-Key": ["already used with a different request body"]},
            status_code=422,
        ) from refusal
    return previous


def _in_flight() -> Conflict:
    return Conflict(
        "idempotency_in_flight",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        headers={"Retry-After": "1"},
    )


def _creation_references(
    actor: Actor, tenant_id: Any, *, assigned_agent_id: Any, parent_task_id: Any, workspace_id: Any
) -> Agent | None:
    if workspace_id:
        workspace = Workspace.objects.filter(pk=workspace_id, tenant_id=tenant_id).first()
        access = _workspace_access(actor, workspace) if workspace is not None else None
        if access is None or not access.visible:
            raise _invalid("workspace_id", "No such workspace in this tenant.")
        if not access.can(WRITE_CONTENT):
            message = "Creating a task in this workspace needs a contributor's role there."
            raise _workspace_forbidden(access, WRITE_CONTENT, message)
    agent = _assignable_agent(tenant_id, assigned_agent_id, "assigned_agent_id") if assigned_agent_id else None
    if agent is not None:
        _check_worker_of(workspace_id, agent, "assigned_agent_id")
    if parent_task_id and not tasks_visible_to(actor).filter(pk=parent_task_id, tenant_id=tenant_id).exists():
        raise _invalid("parent_task_id", "No such task in this tenant.")
    return agent


def _check_escalation(auto_escalate: bool | None, escalation_timeout: timedelta | None) -> None:
    if escalation_timeout is not None and not timedelta(0) < escalation_timeout <= MAX_ESCALATION_TIMEOUT:
        raise _invalid(
            "escalation_timeout", f"The escalation timeout is positive and at most {MAX_ESCALATION_TIMEOUT}."
        )
    if auto_escalate and escalation_timeout is None:
        raise _invalid("escalation_timeout", "auto_escalate needs an escalation timeout.")


def task_create(
    *,
    actor: Actor,
    tenant: Tenant,
    title: str,
    description: str = "",
    priority: str = TaskPriority.MEDIUM,
    assigned_agent_id: Any = None,
    parent_task_id: Any = None,
    workspace_id: Any = None,
    input_data: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    max_retries: int = 3,
    max_delegations: int | None = 3,
    deadline: datetime | None = None,
    auto_escalate: bool = False,
    escalation_timeout: timedelta | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    render: Callable[[Task], str] | None = None,
) -> TaskCreation:
    """Creates a task (`pending`, or `assigned` when an agent is given) and its first history row, in one transaction.

    With `idempotency_key` (the client's; scoped to the tenant here), the
    key and the response body made by `render` are stored in the same
    transaction. A key already used with the same `request_fingerprint`
    gets that first response back (`replayed`, nothing created); with
    another fingerprint, 422 `idempotency_mismatch`. The stored key is only
    read when the creation conflicts or is refused, so a new key costs one
    statement.
    """
    _check_tenant(actor, tenant.id)
    if actor.is_agent and not workspace_id:
        raise _not_allowed("Agent keys create tasks only in workspaces where they contribute.")
    if priority not in TaskPriority.values:
        raise _invalid("priority", f"priority must be one of {', '.join(TaskPriority.values)}.")
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise _invalid("max_retries", f"max_retries is 0 to {MAX_RETRIES_LIMIT}.")
    if max_delegations is not None and max_delegations < 0:
        raise _invalid("max_delegations", "max_delegations is at least 0 (null: no limit).")
    _check_escalation(auto_escalate, escalation_timeout)
    values = {
        "tenant": tenant,
        "title": _clean_text(title, "title", MAX_TITLE_LENGTH, required=True),
        "description": _clean_text(description, "description", 100_000, required=False),
        "priority": priority,
        "parent_task_id": parent_task_id,
        "workspace_id": workspace_id,
        "created_by_key_id": actor.key_id,
        "input_data": _clean_object(input_data if input_data is not None else {}, "input_data"),
        "metadata": _clean_object(metadata if metadata is not None else {}, "metadata"),
        "max_retries": max_retries,
        "max_delegations": max_delegations,
        "deadline": deadline,
        "auto_escalate": auto_escalate,
        "escalation_timeout": escalation_timeout,
    }
    if idempotency_key is None:
        return _task_insert(actor=actor, values=values, assigned_agent_id=assigned_agent_id, render=render)
    stored_key = idempotency_storage_key(tenant.id, validate_idempotency_key(idempotency_key))
    try:
        return _task_insert(
            actor=actor,
            values=values,
            assigned_agent_id=assigned_agent_id,
            render=render,
            claim=(stored_key, request_fingerprint),
        )
    except (DomainError, _KeyTaken) as refusal:
        previous = previous_creation(
            model=TaskIdempotencyKey, stored_key=stored_key, fingerprint=request_fingerprint, refusal=refusal
        )
        # Keys are per tenant (a client retrying after a key rotation gets its task), but the stored answer goes
        # only to a caller that may see the task, or to the key that created it (an agent creating for another).
        created_by = Task.objects.filter(pk=previous.task_id).values_list("created_by_key_id", flat=True).first()
        if created_by != actor.key_id and not tasks_visible_to(actor).filter(pk=previous.task_id).exists():
            raise DomainError(
                "idempotency_key_taken",
                "Another caller of this tenant used this Idempotency-Key; send this request with a new key.",
                {"Idempotency-Key": ["used by another caller"]},
                status_code=422,
            ) from refusal
        return TaskCreation(
            task_id=previous.task_id,
            replayed=True,
            response_status=previous.response_status,
            response_body=previous.response_body,
        )


@transaction.atomic
def _task_insert(
    *,
    actor: Actor,
    values: dict[str, Any],
    assigned_agent_id: Any,
    render: Callable[[Task], str] | None,
    claim: tuple[str, str] | None = None,
) -> TaskCreation:
    tenant = values["tenant"]
    agent = _creation_references(
        actor,
        tenant.id,
        assigned_agent_id=assigned_agent_id,
        parent_task_id=values["parent_task_id"],
        workspace_id=values["workspace_id"],
    )
    now = timezone.now()
    task = insert_task(values=values, agent=agent, actor=actor, now=now)
    body = render(task) if render is not None else None
    if claim is not None:
        stored_key, fingerprint = claim
        claim_idempotency_key(
            model=TaskIdempotencyKey,
            stored_key=stored_key,
            created_id=task.pk,
            tenant_id=task.tenant_id,
            fingerprint=fingerprint,
            body=body,
            now=now,
        )
    return TaskCreation(task_id=task.pk, replayed=False, task=task, response_status=201, response_body=body)


def insert_task(
    *, values: dict[str, Any], agent: Agent | None, actor: Actor, now: datetime, reason: str = "created"
) -> Task:
    """The task row (`assigned` to `agent`, else `pending`) and its first history row; checks are the caller's."""
    task = Task.objects.create(
        **values,
        status=TaskStatus.ASSIGNED if agent else TaskStatus.PENDING,
        assigned_agent=agent,
        assigned_at=now if agent else None,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    TaskStateTransition.objects.create(
        task=task,
        from_status=None,
        to_status=task.status,
        transitioned_by_id=actor.agent_id,
        reason=reason,
        metadata={"actor": actor.audit()},
        created_at=now,
    )
    return task


def _visible_task(actor: Actor, task_id: Any) -> Task:
    task = tasks_visible_to(actor).filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    return task


@transaction.atomic
def task_update(
    *,
    actor: Actor,
    task_id: Any,
    title: str = UNSET,
    description: str = UNSET,
    priority: str = UNSET,
    deadline: datetime | None = UNSET,
    auto_escalate: bool = UNSET,
    escalation_timeout: timedelta | None = UNSET,
) -> Task:
    """Changes what a task asks for, while it is not final; its status changes only through `task_transition`.

    Tenant keys edit any task; in a workspace, an agent edits the tasks it created (contributor and above)
    and others' (moderator and above)."""
    task = _visible_task(actor, task_id)
    if not _may_manage(actor, task):
        raise _not_allowed(
            "Only admin, service and gateway keys edit tasks (in a workspace: its moderators, and contributors "
            "their own tasks)."
        )
    changes: dict[str, Any] = {}
    if title is not UNSET:
        changes["title"] = _clean_text(title, "title", MAX_TITLE_LENGTH, required=True)
    if description is not UNSET:
        changes["description"] = _clean_text(description, "description", 100_000, required=False)
    if priority is not UNSET:
        if priority not in TaskPriority.values:
            raise _invalid("priority", f"priority must be one of {', '.join(TaskPriority.values)}.")
        changes["priority"] = priority
    if deadline is not UNSET:
        changes["deadline"] = deadline
    if auto_escalate is not UNSET:
        changes["auto_escalate"] = auto_escalate
    if escalation_timeout is not UNSET:
        changes["escalation_timeout"] = escalation_timeout
    _check_escalation(
        changes.get("auto_escalate", task.auto_escalate), changes.get("escalation_timeout", task.escalation_timeout)
    )
    if state_machine.is_final(task.status):
        raise _final(task)
    updated = (
        Task.objects.filter(pk=task.pk)
        .exclude(status__in=FINAL_TASK_STATUSES)
        .update(updated_at=timezone.now(), **changes)
    )
    if not updated:
        raise _final(Task.objects.get(pk=task.pk))
    task.refresh_from_db()
    return task


def _final(task: Task) -> Conflict:
    return Conflict("task_final", f"The task is {task.status}: it does not change any more.", {"status": task.status})


# --- tasks: status changes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionResult:
    task: Task
    transition: TaskStateTransition


def _illegal(from_status: str, to_status: str) -> Conflict:
    allowed = state_machine.allowed_targets(from_status)
    return Conflict(
        "illegal_transition",
        f"A task cannot go from {from_status} to {to_status}; allowed: {', '.join(allowed) or 'none (final)'}.",
        {"from_status": from_status, "to_status": to_status, "allowed": allowed},
    )


def _lost_race(task_id: Any, *, delegating: bool = False) -> Conflict:
    """The explanation when a compare-and-set found the task changed by a concurrent request."""
    fresh = Task.objects.get(pk=task_id)
    if delegating and state_machine.is_final(fresh.status):
        return _final(fresh)
    if delegating and fresh.max_delegations is not None and fresh.delegation_count >= fresh.max_delegations:
        return _delegation_limit(fresh)
    allowed = state_machine.allowed_targets(fresh.status)
    return Conflict(
        "transition_conflict",
        f"The task changed while this request ran: it is now {fresh.status}.",
        {"current_status": fresh.status, "allowed": allowed},
    )


def _delegation_limit(task: Task) -> Conflict:
    return Conflict(
        "delegation_limit",
        f"The task has been delegated {task.delegation_count} times, its limit.",
        {"max_delegations": task.max_delegations, "delegation_count": task.delegation_count},
    )


def _announce_status_change(task_id: Any, to_status: str) -> None:
    """Tells the database guard (migration 0004) that this change is the service's and gets its history row here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('mcp.task_status_change', %s, true)", [f"{task_id}:{to_status}"])


def _change_status(
    *,
    task: Task,
    to_status: str,
    actor: Actor,
    reason: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    condition: Q | None = None,
    metadata: dict[str, Any] | None = None,
    delegating: bool = False,
) -> TransitionResult:
    """Every status change of a task, from any path, goes through here (in the caller's transaction).

    Compare-and-set on the status and assignee that `task` holds (plus
    `condition`): if another request changed the task meanwhile, nothing is
    written and the caller gets a 409. Writes the history row and the
    lifecycle timestamps in the same transaction, then calls
    `_on_status_changed`.
    """
    if not state_machine.is_allowed(task.status, to_status):
        raise _illegal(task.status, to_status)
    if task.workflow_execution_id is not None:
        # Before the task's row: every writer of an execution's tasks takes the execution first, so the
        # engine (which holds it and may cancel sibling tasks) never waits for a task row held by someone
        # who waits for the execution.
        lock_execution(task.workflow_execution_id)
    _announce_status_change(task.pk, to_status)
    matching = Task.objects.filter(pk=task.pk, status=task.status, assigned_agent_id=task.assigned_agent_id)
    if condition is not None:
        matching = matching.filter(condition)
    if not matching.update(status=to_status, status_changed_at=now, updated_at=now, **(changes or {})):
        raise _lost_race(task.pk, delegating=delegating)
    transition = TaskStateTransition.objects.create(
        task=task,
        from_status=task.status,
        to_status=to_status,
        transitioned_by_id=actor.agent_id,
        reason=reason,
        metadata={**(metadata or {}), "actor": actor.audit()},
        created_at=now,
    )
    task.refresh_from_db()
    _on_status_changed(task=task, transition=transition)
    return TransitionResult(task=task, transition=transition)


def lock_execution(execution_id: Any) -> None:
    """Locks a workflow execution's row until the transaction ends (FOR NO KEY UPDATE: inserting tasks that
    reference it is not blocked)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM workflow_executions WHERE id = %s FOR NO KEY UPDATE", [execution_id])


def _on_status_changed(*, task: Task, transition: TaskStateTransition) -> None:
    """Hook point: runs inside the transaction of every status change, after its history row is written.

    Whatever must happen atomically with a status change goes here, so that
    it holds for the API, the admin and the commands alike. A task of a
    workflow execution that ends (completed, failed, cancelled) advances its
    execution here, under the execution's row lock taken by
    `_change_status`: an error raised here rolls the status change back with
    it.
    """
    if task.workflow_execution_id is not None:
        from tasks.workflow_services import execution_on_task_changed

        execution_on_task_changed(task=task, transition=transition)


def _may_manage(actor: Actor, task: Task) -> bool:
    """Cancel and edit: tenant keys; in a workspace, agents with MANAGE_CONTENT, or WRITE_CONTENT for their own."""
    if actor.manages_tenant:
        return True
    access = _task_workspace_access(actor, task) if actor.is_agent else None
    if access is None:
        return False
    own = task.created_by_key_id is not None and task.created_by_key_id == actor.key_id
    return access.can(MANAGE_CONTENT) or (own and access.can(WRITE_CONTENT))


def _check_may_work(actor: Actor, task: Task) -> None:
    """The assignee of a workspace's task works it while it may write there."""
    access = _task_workspace_access(actor, task)
    if access is not None and not access.can(WRITE_CONTENT):
        message = "Working a task of this workspace needs a contributor's role there."
        raise _workspace_forbidden(access, WRITE_CONTENT, message)


def _authorize_transition(actor: Actor, task: Task, to_status: str) -> None:
    if actor.manages_tenant:
        return
    if actor.is_agent:
        if to_status == TaskStatus.CANCELLED and _may_manage(actor, task):
            return
        if task.assigned_agent_id != actor.agent_id:
            raise Forbidden(
                "not_task_owner", "Only the task's assigned agent works it; a delegate may only read it.", {}
            )
        if to_status not in state_machine.ASSIGNEE_TARGETS:
            raise _not_allowed(f"The assigned agent may not move its task to {to_status}.", to_status=to_status)
        _check_may_work(actor, task)
        return
    if to_status == TaskStatus.CANCELLED and task.created_by_key_id == actor.key_id:
        return
    raise _not_allowed("A user key may only cancel the tasks it created.", to_status=to_status)


@transaction.atomic
def task_transition(
    *,
    actor: Actor,
    task_id: Any,
    to_status: str,
    reason: str = "",
    output_data: Any = UNSET,
    error_message: str | None = None,
    agent_id: Any = None,
    now: datetime | None = None,
) -> TransitionResult:
    """Moves a task along the state machine (`tasks.state_machine.TRANSITIONS`).

    `agent_id` names the agent for `pending → assigned`; `output_data` goes
    with `completed`, `error_message` with `failed`. `failed → pending` is a
    retry: only while `retry_count < max_retries`, and it increments it.
    Handoffs (`→ delegated`) go through `task_delegate`.
    """
    if to_status not in TaskStatus.values:
        raise _invalid("to_status", f"Unknown status {to_status!r}; the statuses are {', '.join(TaskStatus.values)}.")
    if to_status == TaskStatus.DELEGATED:
        raise _invalid("to_status", "A task is handed off with POST /tasks/{id}/delegate (delegation_type handoff).")
    if output_data is not UNSET and to_status != TaskStatus.COMPLETED:
        raise _invalid("output_data", "output_data goes with to_status completed only.")
    if error_message is not None and to_status != TaskStatus.FAILED:
        raise _invalid("error_message", "error_message goes with to_status failed only.")
    if agent_id is not None and to_status != TaskStatus.ASSIGNED:
        raise _invalid("agent_id", "agent_id goes with to_status assigned only.")
    reason = _clean_text(reason or "", "reason", 10_000, required=False)
    task = _visible_task(actor, task_id)
    _authorize_transition(actor, task, to_status)
    if not state_machine.is_allowed(task.status, to_status):
        raise _illegal(task.status, to_status)
    now = now or timezone.now()
    changes: dict[str, Any] = {}
    condition = None
    metadata: dict[str, Any] = {}
    if to_status == TaskStatus.ASSIGNED:
        if task.status == TaskStatus.PENDING:
            if agent_id is None:
                raise _invalid("agent_id", "Assigning a pending task needs agent_id.")
            agent = _assignable_agent(task.tenant_id, agent_id, "agent_id")
            _check_worker_of(task.workspace_id, agent, "agent_id")
            changes = {"assigned_agent_id": agent.pk, "assigned_at": now}
        elif agent_id is not None and str(agent_id) != str(task.assigned_agent_id):
            raise _invalid("agent_id", "A handed-off task is accepted by the agent it was handed to.")
    elif to_status == TaskStatus.IN_PROGRESS:
        changes = {"started_at": now}
    elif to_status == TaskStatus.COMPLETED:
        changes = {"completed_at": now, "output_data": None if output_data is UNSET else output_data}
    elif to_status == TaskStatus.FAILED:
        changes = {"completed_at": now, "error_message": error_message}
    elif to_status == TaskStatus.CANCELLED:
        changes = {"completed_at": now}
    elif to_status == TaskStatus.PENDING:
        changes = {"assigned_agent_id": None, "assigned_at": None, "started_at": None, "completed_at": None}
        if task.status == TaskStatus.FAILED:
            if task.retry_count >= task.max_retries:
                raise Conflict(
                    "retries_exhausted",
                    f"The task was retried {task.retry_count} times, its limit; cancel it instead.",
                    {"retry_count": task.retry_count, "max_retries": task.max_retries},
                )
            changes["retry_count"] = F("retry_count") + 1
            condition = Q(retry_count__lt=F("max_retries"))
            metadata["retry"] = task.retry_count + 1
    return _change_status(
        task=task,
        to_status=to_status,
        actor=actor,
        reason=reason,
        now=now,
        changes=changes,
        condition=condition,
        metadata=metadata,
    )


# --- tasks: delegation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DelegationResult:
    task: Task
    delegation: TaskDelegationHistory
    transition: TaskStateTransition | None


@transaction.atomic
def task_delegate(
    *,
    actor: Actor,
    task_id: Any,
    to_agent_id: Any,
    delegation_type: str,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> DelegationResult:
    """Delegates a non-final task to another active agent of its tenant.

    `handoff` moves ownership: the task becomes `delegated`, assigned to the
    target, until the target takes it (`assigned` or `in_progress`).
    `collaboration`, `supervision` and `consultation` keep the assignee and
    status and let the target read the task. Each counts against
    `max_delegations`: the increment and the check are one UPDATE, so the cap
    holds under concurrency.
    """
    if delegation_type not in DelegationType.values:
        raise _invalid("delegation_type", f"delegation_type must be one of {', '.join(DelegationType.values)}.")
    metadata = _clean_object(metadata if metadata is not None else {}, "metadata")
    reason = _clean_text(reason or "", "reason", 10_000, required=False)
    task = _visible_task(actor, task_id)
    if not actor.manages_tenant and not (actor.is_agent and task.assigned_agent_id == actor.agent_id):
        if actor.is_agent:
            raise Forbidden("not_task_owner", "Only the task's assigned agent delegates it.", {})
        raise _not_allowed("A user key does not delegate tasks.")
    if not actor.manages_tenant:
        _check_may_work(actor, task)
    if state_machine.is_final(task.status):
        raise _final(task)
    target = _assignable_agent(task.tenant_id, to_agent_id, "to_agent_id")
    _check_worker_of(task.workspace_id, target, "to_agent_id", handoff=delegation_type == DelegationType.HANDOFF)
    if target.pk == task.assigned_agent_id:
        raise Conflict(
            "delegate_is_assignee", "The task is already assigned to that agent.", {"to_agent_id": [str(target.pk)]}
        )
    if task.max_delegations is not None and task.delegation_count >= task.max_delegations:
        raise _delegation_limit(task)
    now = now or timezone.now()
    under_cap = Q(max_delegations__isnull=True) | Q(delegation_count__lt=F("max_delegations"))
    delegation_id, from_agent_id = uuid.uuid4(), task.assigned_agent_id
    transition = None
    if delegation_type == DelegationType.HANDOFF:
        transition = _change_status(
            task=task,
            to_status=TaskStatus.DELEGATED,
            actor=actor,
            reason=reason or f"handed off to {target.name}",
            now=now,
            changes={"assigned_agent_id": target.pk, "assigned_at": now, "delegation_count": F("delegation_count") + 1},
            condition=under_cap,
            metadata={"delegation_id": str(delegation_id)},
            delegating=True,
        ).transition
    else:
        updated = (
            Task.objects.filter(under_cap, pk=task.pk, assigned_agent_id=task.assigned_agent_id)
            .exclude(status__in=FINAL_TASK_STATUSES)
            .update(delegation_count=F("delegation_count") + 1, updated_at=now)
        )
        if not updated:
            raise _lost_race(task.pk, delegating=True)
    delegation = TaskDelegationHistory.objects.create(
        id=delegation_id,
        task_id=task.pk,
        from_agent_id=from_agent_id,
        to_agent=target,
        delegation_type=delegation_type,
        reason=reason,
        metadata={**metadata, "actor": actor.audit()},
        created_at=now,
    )
    task.refresh_from_db()
    return DelegationResult(task=task, delegation=delegation, transition=transition)


# --- tasks: escalation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationResult:
    task: Task
    from_priority: str
    to_priority: str
    delegation: TaskDelegationHistory | None
    note: str


def escalation_due(task: Task, now: datetime) -> bool:
    """`escalation_timeout` has passed since the last status change and since the last escalation."""
    if not task.auto_escalate or task.escalation_timeout is None or state_machine.is_final(task.status):
        return False
    since = max(filter(None, (task.status_changed_at, task.last_escalated_at)))
    return now >= since + task.escalation_timeout


@transaction.atomic
def task_escalate(
    *, actor: Actor, task_id: Any, now: datetime | None = None, force: bool = False, reason: str = ""
) -> EscalationResult | None:
    """Escalates a task: priority one level up (`critical` stays), a `supervision` delegation to the tenant's
    escalation agent when one is configured, and a history row with the reason.

    Without `force`, only a task that is due (`escalation_due`) is escalated;
    otherwise None. The task row is locked, so concurrent runners escalate it
    once. Escalation delegations do not count against `max_delegations`.
    """
    task = tasks_visible_to(actor).select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    if not actor.manages_tenant:
        raise _not_allowed("Only admin, service and gateway keys escalate tasks.")
    if state_machine.is_final(task.status):
        raise _final(task)
    now = now or timezone.now()
    if not force and not escalation_due(task, now):
        return None
    from_priority, to_priority = task.priority, state_machine.next_priority(task.priority)
    if not reason:
        reason = (
            f"escalated by {actor.operator or actor.key_type + ' key'}"
            if force
            else f"auto-escalated: no status change for {task.escalation_timeout}"
        )
    agent, note = escalation_agent_for(task)
    Task.objects.filter(pk=task.pk).update(priority=to_priority, last_escalated_at=now, updated_at=now)
    delegation = None
    if agent is not None:
        delegation = TaskDelegationHistory.objects.create(
            task_id=task.pk,
            from_agent_id=task.assigned_agent_id,
            to_agent=agent,
            delegation_type=DelegationType.SUPERVISION,
            reason=reason,
            metadata={"escalation": True, "actor": actor.audit()},
            created_at=now,
        )
    TaskStateTransition.objects.create(
        task_id=task.pk,
        from_status=task.status,
        to_status=task.status,
        reason=reason,
        metadata={
            "event": "escalation",
            "priority": {"from": from_priority, "to": to_priority},
            "escalation_agent_id": str(agent.pk) if agent else None,
            "delegation_id": str(delegation.pk) if delegation else None,
            "note": note,
            "actor": actor.audit(),
        },
        created_at=now,
    )
    task.refresh_from_db()
    return EscalationResult(
        task=task, from_priority=from_priority, to_priority=to_priority, delegation=delegation, note=note
    )


_DUE_FOR_ESCALATION_SQL = f"""
SELECT id FROM tasks
 WHERE auto_escalate
   AND status NOT IN ({", ".join(f"'{status}'" for status in FINAL_TASK_STATUSES)})
   AND escalation_timeout IS NOT NULL
   AND status_changed_at + escalation_timeout <= %(now)s
   AND (last_escalated_at IS NULL OR last_escalated_at + escalation_timeout <= %(now)s)
 ORDER BY status_changed_at
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
"""


def task_escalate_due(*, actor: Actor, now: datetime | None = None, batch_size: int = 100) -> list[EscalationResult]:
    """One pass over every task due for escalation, `batch_size` tasks per transaction.

    `FOR UPDATE SKIP LOCKED`: several runners at once share the work and
    never escalate a task twice (a row another runner holds is skipped; one it
    has escalated is not due any more when its lock is released).
    """
    now = now or timezone.now()
    results: list[EscalationResult] = []
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_DUE_FOR_ESCALATION_SQL, {"now": now, "limit": batch_size})
            task_ids = [row[0] for row in cursor.fetchall()]
            escalated = [task_escalate(actor=actor, task_id=task_id, now=now) for task_id in task_ids]
        results += [result for result in escalated if result is not None]
        if len(task_ids) < batch_size or not any(escalated):
            return results


# --- idempotency keys -----------------------------------------------------------------------------------------

_PURGE_SQL = """
DELETE FROM {table}
 WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM {table}
        WHERE expires_at <= %s
        LIMIT %s
          FOR UPDATE SKIP LOCKED))
"""


def idempotency_key_purge_expired(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Deletes expired keys (of task creation and of workflow executions), `batch_size` per transaction (short
    locks); returns how many.

    Safe to run concurrently: each batch locks its rows with SKIP LOCKED, so
    two purgers delete disjoint rows and never wait for each other.
    """
    now = now or timezone.now()
    total = 0
    for table, _ in IDEMPOTENCY_TABLES.values():
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_PURGE_SQL.format(table=table), [now, batch_size])
                deleted = cursor.rowcount
            total += deleted
            if deleted < batch_size:
                break
    return total
