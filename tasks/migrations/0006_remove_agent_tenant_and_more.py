"""State only: the models moved to their own apps; the tables and columns stay exactly as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("tasks", "0005_workflow_execution_idempotency"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="agent",
                    name="tenant",
                ),
                migrations.AlterField(
                    model_name="taskdelegationhistory",
                    name="to_agent",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="delegations_received",
                        to="agents.agent",
                    ),
                ),
                migrations.AlterField(
                    model_name="taskstatetransition",
                    name="transitioned_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_column="transitioned_by",
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="transitions_made",
                        to="agents.agent",
                    ),
                ),
                migrations.AlterField(
                    model_name="task",
                    name="assigned_agent",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assigned_tasks",
                        to="agents.agent",
                    ),
                ),
                migrations.AlterField(
                    model_name="taskdelegationhistory",
                    name="from_agent",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="delegations_given",
                        to="agents.agent",
                    ),
                ),
                migrations.RemoveField(
                    model_name="workflow",
                    name="tenant",
                ),
                migrations.RemoveField(
                    model_name="workflowexecution",
                    name="workflow",
                ),
                migrations.RemoveField(
                    model_name="workflowexecution",
                    name="tenant",
                ),
                migrations.RemoveField(
                    model_name="workflowexecutionidempotencykey",
                    name="execution",
                ),
            ],
        ),
    ]
