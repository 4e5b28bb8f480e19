"""State only: the models moved to their own apps; the tables and columns stay exactly as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0005_alter_collection_workspace"),
        ("tasks", "0007_alter_task_workflow_execution_and_more"),
        ("tenants", "0005_remove_workspace_tenant_and_more"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="Workspace",
                ),
                migrations.DeleteModel(
                    name="WorkspaceMember",
                ),
            ],
        ),
    ]
