"""Tasks, with their full history (status transitions, delegations) and idempotency keys."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q, QuerySet

from mcpadmin.core.actor import Actor
from mcpadmin.core.idempotency import IdempotencyRecord
from mcpadmin.db.fields import EnumField, created_at, updated_at, uuid_pk
from mcpadmin.db.querysets import TenantQuerySet
from workspaces.models import Workspace


class TaskStatus(models.TextChoices):
    """Labels of the enum type `task_status`, in its order."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELEGATED = "delegated"


class TaskPriority(models.TextChoices):
    """Labels of the enum type `task_priority`, lowest first."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class DelegationType(models.TextChoices):
    HANDOFF = "handoff"
    COLLABORATION = "collaboration"
    SUPERVISION = "supervision"
    CONSULTATION = "consultation"


FINAL_TASK_STATUSES = (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
#: Statuses in which a task is some agent's work: never without an assignee (`tasks_assignee_required_check`).
ASSIGNED_TASK_STATUSES = (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.DELEGATED)


def tasks_shared_with(agent_id: Any) -> QuerySet[TaskDelegationHistory]:
    """Task ids an agent may read because a collaboration, supervision or consultation was delegated to it."""
    return (
        TaskDelegationHistory.objects.filter(to_agent_id=agent_id)
        .exclude(delegation_type=DelegationType.HANDOFF)
        .values("task_id")
    )


class TaskQuerySet(TenantQuerySet):
    """Tasks scoped to a caller (NetBox's RestrictedQuerySet idea): the visibility rule lives with the model, so
    every read and every row lock of the services starts from the same rule."""

    def visible_to(self, actor: Actor) -> TaskQuerySet:
        """What a caller may see; everything else is 404 to it.

        Operators and commands: every task. Admin, service and gateway keys:
        their tenant's tasks. User keys: their tenant's tasks outside workspaces,
        and those of the workspaces they may read. Agent keys: the tasks assigned
        to their agent, the tasks delegated to it for collaboration, supervision
        or consultation (read-only for it; a handoff moves the task itself), and
        the tasks of the workspaces it may read (docs, "Workspaces").
        """
        tasks = super().visible_to(actor)
        if actor.manages_tenant:
            return tasks
        readable_workspaces = Q(workspace_id__in=Workspace.objects.visible_to(actor).values("pk"))
        if actor.is_agent:
            return tasks.filter(
                Q(assigned_agent_id=actor.agent_id) | Q(pk__in=tasks_shared_with(actor.agent_id)) | readable_workspaces
            )
        return tasks.filter(Q(workspace_id__isnull=True) | readable_workspaces)


class Task(models.Model):
    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="tasks", db_index=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="", db_default="")
    status = EnumField(
        enum_type="task_status", choices=TaskStatus.choices, default=TaskStatus.PENDING, db_default=TaskStatus.PENDING
    )
    priority = EnumField(
        enum_type="task_priority",
        choices=TaskPriority.choices,
        default=TaskPriority.MEDIUM,
        db_default=TaskPriority.MEDIUM,
    )
    assigned_agent = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_tasks"
    )
    parent_task = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="subtasks")
    #: The key that created the task (a `user` key may cancel only its own tasks).
    created_by_key = models.ForeignKey(
        "apikeys.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="created_tasks"
    )
    workflow_execution = models.ForeignKey(
        "workflows.WorkflowExecution", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    workflow_step = models.CharField(max_length=255, null=True, blank=True)
    input_data = models.JSONField(default=dict, db_default={}, blank=True)
    output_data = models.JSONField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    retry_count = models.IntegerField(default=0, db_default=0)
    max_retries = models.IntegerField(default=3, db_default=3)
    deadline = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    #: When the status last changed: the clock of auto-escalation.
    status_changed_at = created_at()
    auto_escalate = models.BooleanField(default=False, db_default=False, null=True)
    escalation_timeout = models.DurationField(null=True, blank=True)
    last_escalated_at = models.DateTimeField(null=True, blank=True)
    max_delegations = models.IntegerField(default=3, db_default=3, null=True)
    delegation_count = models.IntegerField(default=0, db_default=0)
    metadata = models.JSONField(default=dict, db_default={}, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    objects = TaskQuerySet.as_manager()

    class Meta:
        db_table = "tasks"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(retry_count__gte=0), name="tasks_retry_count_check"),
            models.CheckConstraint(condition=Q(max_retries__gte=0), name="tasks_max_retries_check"),
            models.CheckConstraint(condition=Q(delegation_count__gte=0), name="tasks_delegation_count_check"),
            models.CheckConstraint(
                condition=Q(max_delegations__isnull=True) | Q(max_delegations__gte=0),
                name="tasks_max_delegations_check",
            ),
            # Deleting an agent sets its tasks' assignee to NULL: for its final tasks only (agents.services
            # refuses the rest); this refuses any other path, a plain-SQL DELETE of an agent included.
            models.CheckConstraint(
                condition=Q(assigned_agent__isnull=False) | ~Q(status__in=ASSIGNED_TASK_STATUSES),
                name="tasks_assignee_required_check",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="idx_tasks_tenant_status"),
            models.Index(fields=["tenant", "assigned_agent", "status"], name="idx_tasks_tenant_agent_status"),
            models.Index(fields=["tenant", "-created_at"], name="idx_tasks_tenant_created"),
            # The overview's last 24 hours across tenants (mcpadmin/dashboard.py): created, and ended.
            models.Index(fields=["created_at"], name="idx_tasks_created"),
            models.Index(fields=["completed_at"], name="idx_tasks_completed", condition=Q(completed_at__isnull=False)),
            models.Index(
                fields=["status_changed_at"],
                name="idx_tasks_escalation_due",
                condition=Q(auto_escalate=True) & ~Q(status__in=["completed", "cancelled"]),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class TaskDelegationHistory(models.Model):
    """The spec's `task_delegation_history`: one row per delegation, written with it."""

    id = uuid_pk()
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="delegations", db_index=False)
    # RESTRICT (database: NO ACTION, as the spec): history keeps its agents; they are disabled, not deleted.
    from_agent = models.ForeignKey(
        "agents.Agent", on_delete=models.RESTRICT, null=True, blank=True, related_name="delegations_given"
    )
    to_agent = models.ForeignKey("agents.Agent", on_delete=models.RESTRICT, related_name="delegations_received")
    delegation_type = models.CharField(max_length=50, null=True, blank=True, choices=DelegationType.choices)
    reason = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, db_default={}, null=True, blank=True)
    created_at = created_at(null=True)

    class Meta:
        db_table = "task_delegation_history"
        verbose_name_plural = "task delegation history"
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(delegation_type__isnull=True) | Q(delegation_type__in=DelegationType.values),
                name="task_delegation_history_type_check",
            )
        ]
        indexes = [
            models.Index(fields=["task"], name="idx_task_delegation_history_task"),
            models.Index(fields=["created_at"], name="idx_task_delegation_created"),
        ]

    def __str__(self) -> str:
        return f"{self.delegation_type or 'delegation'} of {self.task_id} to {self.to_agent_id}"


class TaskStateTransition(models.Model):
    """The spec's `task_state_transitions`: one row per status change, from any path."""

    id = uuid_pk()
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="transitions", db_index=False)
    from_status = EnumField(enum_type="task_status", choices=TaskStatus.choices, null=True, blank=True)
    to_status = EnumField(enum_type="task_status", choices=TaskStatus.choices)
    transitioned_by = models.ForeignKey(
        "agents.Agent",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="transitions_made",
        db_column="transitioned_by",
    )
    reason = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, db_default={}, null=True, blank=True)
    created_at = created_at(null=True)

    class Meta:
        db_table = "task_state_transitions"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["task"], name="idx_task_state_transitions_task"),
            # Escalations of the last 24 hours (the overview): only those rows, so the index stays small.
            models.Index(
                fields=["created_at"], name="idx_task_transitions_escalated", condition=Q(metadata__event="escalation")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.from_status or '-'} -> {self.to_status}"


class TaskIdempotencyKey(IdempotencyRecord):
    """The spec's `task_idempotency_keys`, plus the tenant and request fingerprint that correctness needs.

    The spec makes `idempotency_key` the whole primary key, so the stored value
    is scoped by tenant: `<tenant id>:<SHA-256 of the client's key>` (101
    characters, see `mcpadmin.core.idempotency.idempotency_storage_key`), and two tenants
    may use the same key.
    """

    created_field = "task"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="idempotency_keys")

    class Meta:
        db_table = "task_idempotency_keys"
        indexes = [models.Index(fields=["expires_at"], name="idx_task_idempotency_expires")]
