import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.functions
import django.contrib.postgres.indexes
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields
from mcpadmin.db.migration_ops import create_enum_type


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        create_enum_type(
            "task_status",
            [
                "pending",
                "assigned",
                "in_progress",
                "completed",
                "failed",
                "cancelled",
                "delegated",
            ],
        ),
        create_enum_type("task_priority", ["low", "medium", "high", "critical"]),
        create_enum_type(
            "workflow_type",
            [
                "sequential",
                "parallel",
                "conditional",
                "loop",
                "map_reduce",
                "scatter_gather",
            ],
        ),
        create_enum_type(
            "workflow_status",
            ["draft", "active", "paused", "completed", "failed", "archived"],
        ),
        create_enum_type(
            "delegation_type",
            ["handoff", "collaboration", "supervision", "consultation"],
        ),
        migrations.CreateModel(
            name="Agent",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.CharField(max_length=255)),
                (
                    "description",
                    models.TextField(blank=True, db_default="", default=""),
                ),
                (
                    "capabilities",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=100),
                        blank=True,
                        db_default=[],
                        default=list,
                        size=None,
                    ),
                ),
                (
                    "teams",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=100),
                        blank=True,
                        db_default=[],
                        default=list,
                        size=None,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("active", "Active"), ("disabled", "Disabled")],
                        db_default="active",
                        default="active",
                        max_length=20,
                    ),
                ),
                ("metadata", models.JSONField(blank=True, db_default={}, default=dict)),
                ("last_seen_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="agents",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "agents",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Task",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("title", models.CharField(max_length=500)),
                (
                    "description",
                    models.TextField(blank=True, db_default="", default=""),
                ),
                (
                    "status",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("pending", "Pending"),
                            ("assigned", "Assigned"),
                            ("in_progress", "In Progress"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                            ("delegated", "Delegated"),
                        ],
                        db_default="pending",
                        default="pending",
                        enum_type="task_status",
                    ),
                ),
                (
                    "priority",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("low", "Low"),
                            ("medium", "Medium"),
                            ("high", "High"),
                            ("critical", "Critical"),
                        ],
                        db_default="medium",
                        default="medium",
                        enum_type="task_priority",
                    ),
                ),
                (
                    "workflow_step",
                    models.CharField(blank=True, max_length=255, null=True),
                ),
                (
                    "input_data",
                    models.JSONField(blank=True, db_default={}, default=dict),
                ),
                ("output_data", models.JSONField(blank=True, null=True)),
                ("error_message", models.TextField(blank=True, null=True)),
                ("retry_count", models.IntegerField(db_default=0, default=0)),
                ("max_retries", models.IntegerField(db_default=3, default=3)),
                ("deadline", models.DateTimeField(blank=True, null=True)),
                ("assigned_at", models.DateTimeField(blank=True, null=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "status_changed_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "auto_escalate",
                    models.BooleanField(db_default=False, default=False, null=True),
                ),
                ("escalation_timeout", models.DurationField(blank=True, null=True)),
                ("last_escalated_at", models.DateTimeField(blank=True, null=True)),
                (
                    "max_delegations",
                    models.IntegerField(db_default=3, default=3, null=True),
                ),
                ("delegation_count", models.IntegerField(db_default=0, default=0)),
                ("metadata", models.JSONField(blank=True, db_default={}, default=dict)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
                (
                    "assigned_agent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assigned_tasks",
                        to="tasks.agent",
                    ),
                ),
                (
                    "parent_task",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="subtasks",
                        to="tasks.task",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tasks",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "tasks",
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="TaskDelegationHistory",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "delegation_type",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("handoff", "Handoff"),
                            ("collaboration", "Collaboration"),
                            ("supervision", "Supervision"),
                            ("consultation", "Consultation"),
                        ],
                        max_length=50,
                        null=True,
                    ),
                ),
                ("reason", models.TextField(blank=True, null=True)),
                (
                    "metadata",
                    models.JSONField(blank=True, db_default={}, default=dict, null=True),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                        null=True,
                    ),
                ),
                (
                    "from_agent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="delegations_given",
                        to="tasks.agent",
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="delegations",
                        to="tasks.task",
                    ),
                ),
                (
                    "to_agent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="delegations_received",
                        to="tasks.agent",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "task delegation history",
                "db_table": "task_delegation_history",
                "ordering": ["created_at"],
            },
        ),
        migrations.CreateModel(
            name="TaskIdempotencyKey",
            fields=[
                (
                    "idempotency_key",
                    models.CharField(max_length=255, primary_key=True, serialize=False),
                ),
                ("request_fingerprint", models.CharField(max_length=64)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                        null=True,
                    ),
                ),
                ("expires_at", models.DateTimeField()),
                (
                    "task",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="idempotency_keys",
                        to="tasks.task",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "task_idempotency_keys",
            },
        ),
        migrations.CreateModel(
            name="TaskStateTransition",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "from_status",
                    mcpadmin.db.fields.EnumField(
                        blank=True,
                        choices=[
                            ("pending", "Pending"),
                            ("assigned", "Assigned"),
                            ("in_progress", "In Progress"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                            ("delegated", "Delegated"),
                        ],
                        enum_type="task_status",
                        null=True,
                    ),
                ),
                (
                    "to_status",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("pending", "Pending"),
                            ("assigned", "Assigned"),
                            ("in_progress", "In Progress"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                            ("delegated", "Delegated"),
                        ],
                        enum_type="task_status",
                    ),
                ),
                ("reason", models.TextField(blank=True, null=True)),
                (
                    "metadata",
                    models.JSONField(blank=True, db_default={}, default=dict, null=True),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                        null=True,
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="transitions",
                        to="tasks.task",
                    ),
                ),
                (
                    "transitioned_by",
                    models.ForeignKey(
                        blank=True,
                        db_column="transitioned_by",
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="transitions_made",
                        to="tasks.agent",
                    ),
                ),
            ],
            options={
                "db_table": "task_state_transitions",
                "ordering": ["created_at"],
            },
        ),
        migrations.CreateModel(
            name="Workflow",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.CharField(max_length=255)),
                (
                    "description",
                    models.TextField(blank=True, db_default="", default=""),
                ),
                (
                    "workflow_type",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("sequential", "Sequential"),
                            ("parallel", "Parallel"),
                            ("conditional", "Conditional"),
                            ("loop", "Loop"),
                            ("map_reduce", "Map Reduce"),
                            ("scatter_gather", "Scatter Gather"),
                        ],
                        enum_type="workflow_type",
                    ),
                ),
                (
                    "status",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("draft", "Draft"),
                            ("active", "Active"),
                            ("paused", "Paused"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("archived", "Archived"),
                        ],
                        db_default="draft",
                        default="draft",
                        enum_type="workflow_status",
                    ),
                ),
                ("definition", models.JSONField(db_default={}, default=dict)),
                ("version", models.IntegerField(db_default=1, default=1)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="workflows",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "workflows",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="WorkflowExecution",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        db_default="running",
                        default="running",
                        max_length=20,
                    ),
                ),
                (
                    "input_data",
                    models.JSONField(blank=True, db_default={}, default=dict),
                ),
                ("output_data", models.JSONField(blank=True, null=True)),
                ("state", models.JSONField(blank=True, db_default={}, default=dict)),
                ("error_message", models.TextField(blank=True, null=True)),
                (
                    "started_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="workflow_executions",
                        to="tenants.tenant",
                    ),
                ),
                (
                    "workflow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="executions",
                        to="tasks.workflow",
                    ),
                ),
            ],
            options={
                "db_table": "workflow_executions",
                "ordering": ["-created_at"],
            },
        ),
        migrations.AddField(
            model_name="task",
            name="workflow_execution",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="tasks",
                to="tasks.workflowexecution",
            ),
        ),
        migrations.AddIndex(
            model_name="agent",
            index=models.Index(
                fields=["tenant", "status", "last_seen_at"],
                name="idx_agents_tenant_status_seen",
            ),
        ),
        migrations.AddIndex(
            model_name="agent",
            index=django.contrib.postgres.indexes.GinIndex(fields=["capabilities"], name="idx_agents_capabilities"),
        ),
        migrations.AddConstraint(
            model_name="agent",
            constraint=models.UniqueConstraint(fields=("tenant", "name"), name="agents_tenant_name_key"),
        ),
        migrations.AddConstraint(
            model_name="agent",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["active", "disabled"])),
                name="agents_status_check",
            ),
        ),
        migrations.AddIndex(
            model_name="taskdelegationhistory",
            index=models.Index(fields=["task"], name="idx_task_delegation_history_task"),
        ),
        migrations.AddConstraint(
            model_name="taskdelegationhistory",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("delegation_type__isnull", True),
                    (
                        "delegation_type__in",
                        ["handoff", "collaboration", "supervision", "consultation"],
                    ),
                    _connector="OR",
                ),
                name="task_delegation_history_type_check",
            ),
        ),
        migrations.AddIndex(
            model_name="taskidempotencykey",
            index=models.Index(fields=["expires_at"], name="idx_task_idempotency_expires"),
        ),
        migrations.AddIndex(
            model_name="taskstatetransition",
            index=models.Index(fields=["task"], name="idx_task_state_transitions_task"),
        ),
        migrations.AddConstraint(
            model_name="workflow",
            constraint=models.UniqueConstraint(fields=("tenant", "name"), name="workflows_tenant_name_key"),
        ),
        migrations.AddIndex(
            model_name="workflowexecution",
            index=models.Index(
                fields=["tenant", "workflow", "-created_at"],
                name="idx_wf_executions_tenant_wf",
            ),
        ),
        migrations.AddConstraint(
            model_name="workflowexecution",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["running", "completed", "failed", "cancelled"])),
                name="workflow_executions_status_check",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["tenant", "status", "-created_at"],
                name="idx_tasks_tenant_status",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["tenant", "assigned_agent", "status"],
                name="idx_tasks_tenant_agent_status",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["tenant", "-created_at"], name="idx_tasks_tenant_created"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(
                    ("auto_escalate", True),
                    models.Q(("status__in", ["completed", "cancelled"]), _negated=True),
                ),
                fields=["status_changed_at"],
                name="idx_tasks_escalation_due",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("retry_count__gte", 0)),
                name="tasks_retry_count_check",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("max_retries__gte", 0)),
                name="tasks_max_retries_check",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("delegation_count__gte", 0)),
                name="tasks_delegation_count_check",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("max_delegations__isnull", True),
                    ("max_delegations__gte", 0),
                    _connector="OR",
                ),
                name="tasks_max_delegations_check",
            ),
        ),
    ]
