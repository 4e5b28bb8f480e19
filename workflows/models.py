"""Workflows (definitions of six kinds) and their executions."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from mcpadmin.core.idempotency import IdempotencyRecord
from mcpadmin.db.fields import EnumField, created_at, updated_at, uuid_pk
from mcpadmin.db.querysets import TenantQuerySet


class WorkflowType(models.TextChoices):
    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    CONDITIONAL = "conditional"
    LOOP = "loop"
    MAP_REDUCE = "map_reduce"
    SCATTER_GATHER = "scatter_gather"


class WorkflowStatus(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    ARCHIVED = "archived"


#: A workflow in one of these no longer changes its definition, and its leftover executions are cancelled.
RETIRED_WORKFLOW_STATUSES = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.ARCHIVED)


class Workflow(models.Model):
    id = uuid_pk()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="workflows", db_index=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="", db_default="")
    #: The column is `type`, as the other services sharing the database name it (the spec pairs each enum with
    #: its column); the API and the code call it `workflow_type`.
    workflow_type = EnumField(enum_type="workflow_type", choices=WorkflowType.choices, db_column="type")
    status = EnumField(
        enum_type="workflow_status",
        choices=WorkflowStatus.choices,
        default=WorkflowStatus.DRAFT,
        db_default=WorkflowStatus.DRAFT,
    )
    definition = models.JSONField(default=dict, db_default={})
    version = models.IntegerField(default=1, db_default=1)
    created_at = created_at()
    updated_at = updated_at()

    objects = TenantQuerySet.as_manager()

    class Meta:
        db_table = "workflows"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="workflows_tenant_name_key")]

    def __str__(self) -> str:
        return self.name


class ExecutionStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WorkflowExecution(models.Model):
    """One run of a workflow; `state` holds the per-step progress."""

    id = uuid_pk()
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="workflow_executions", db_index=False
    )
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="executions")
    status = models.CharField(
        max_length=20,
        choices=ExecutionStatus.choices,
        default=ExecutionStatus.RUNNING,
        db_default=ExecutionStatus.RUNNING,
    )
    input_data = models.JSONField(default=dict, db_default={}, blank=True)
    output_data = models.JSONField(null=True, blank=True)
    state = models.JSONField(default=dict, db_default={}, blank=True)
    error_message = models.TextField(null=True, blank=True)
    started_at = created_at()
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    objects = TenantQuerySet.as_manager()

    class Meta:
        db_table = "workflow_executions"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ExecutionStatus.values), name="workflow_executions_status_check"
            )
        ]
        indexes = [models.Index(fields=["tenant", "workflow", "-created_at"], name="idx_wf_executions_tenant_wf")]

    def __str__(self) -> str:
        return f"execution {self.id} of {self.workflow_id} ({self.status})"


class WorkflowExecutionIdempotencyKey(IdempotencyRecord):
    """`Idempotency-Key`s of POST /workflows/{id}/executions: the same shape as `task_idempotency_keys`.

    A table of its own because the spec's `task_idempotency_keys.task_id` is
    NOT NULL (an execution is not a task); the stored key has the same
    format (`<tenant id>:<SHA-256 of the client's key>`), so the two
    endpoints have separate key spaces.
    """

    created_field = "execution"

    execution = models.ForeignKey(WorkflowExecution, on_delete=models.CASCADE, related_name="idempotency_keys")

    class Meta:
        db_table = "workflow_execution_idempotency_keys"
        indexes = [models.Index(fields=["expires_at"], name="idx_wf_exec_idempotency_expires")]
