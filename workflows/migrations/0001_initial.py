"""State only: the models move from `tasks` to `workflows` with their tables (same names, same rows).

Content types are relabelled, so admin history and permissions follow the models."""

import uuid

import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields
from mcpadmin.db.migration_ops import relabel_content_types


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tasks", "0005_workflow_execution_idempotency"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tenants", "0005_remove_workspace_tenant_and_more"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                relabel_content_types(
                    "tasks", "workflows", ["workflow", "workflowexecution", "workflowexecutionidempotencykey"]
                )
            ],
            state_operations=[
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
                        ("description", models.TextField(blank=True, db_default="", default="")),
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
                        ("input_data", models.JSONField(blank=True, db_default={}, default=dict)),
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
                                to="workflows.workflow",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "workflow_executions",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="WorkflowExecutionIdempotencyKey",
                    fields=[
                        ("idempotency_key", models.CharField(max_length=255, primary_key=True, serialize=False)),
                        ("request_fingerprint", models.CharField(max_length=64)),
                        ("response_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("response_body", models.TextField(blank=True, null=True)),
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
                            "execution",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="idempotency_keys",
                                to="workflows.workflowexecution",
                            ),
                        ),
                        (
                            "tenant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "workflow_execution_idempotency_keys",
                    },
                ),
                migrations.AddConstraint(
                    model_name="workflow",
                    constraint=models.UniqueConstraint(fields=("tenant", "name"), name="workflows_tenant_name_key"),
                ),
                migrations.AddIndex(
                    model_name="workflowexecution",
                    index=models.Index(
                        fields=["tenant", "workflow", "-created_at"], name="idx_wf_executions_tenant_wf"
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
                    model_name="workflowexecutionidempotencykey",
                    index=models.Index(fields=["expires_at"], name="idx_wf_exec_idempotency_expires"),
                ),
            ],
        ),
    ]
