"""State only: the models moved to their own apps; the tables and columns stay exactly as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0003_alter_apikey_agent"),
        ("tasks", "0006_remove_agent_tenant_and_more"),
        ("tenants", "0005_remove_workspace_tenant_and_more"),
        ("workflows", "0001_initial"),
        ("workspaces", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="task",
                    name="workflow_execution",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tasks",
                        to="workflows.workflowexecution",
                    ),
                ),
                migrations.RemoveField(
                    model_name="workflowexecutionidempotencykey",
                    name="tenant",
                ),
                migrations.AlterField(
                    model_name="task",
                    name="workspace",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tasks",
                        to="workspaces.workspace",
                    ),
                ),
                migrations.DeleteModel(
                    name="Agent",
                ),
                migrations.DeleteModel(
                    name="Workflow",
                ),
                migrations.DeleteModel(
                    name="WorkflowExecution",
                ),
                migrations.DeleteModel(
                    name="WorkflowExecutionIdempotencyKey",
                ),
            ],
        ),
    ]
