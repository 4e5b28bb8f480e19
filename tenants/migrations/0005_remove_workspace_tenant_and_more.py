"""State only: the models moved to their own apps; the tables and columns stay exactly as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_workspace_owner_guard"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="workspace",
                    name="tenant",
                ),
                migrations.RemoveField(
                    model_name="workspacemember",
                    name="workspace",
                ),
                migrations.RemoveField(
                    model_name="workspacemember",
                    name="agent",
                ),
            ],
        ),
    ]
