"""The admin's overview counts running and failed executions, overall and per tenant. Built concurrently."""

from django.db import migrations, models

from mcpadmin.db.migration_ops import ResumableAddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflows", "0002_workflow_type_column"),
    ]

    operations = [
        ResumableAddIndexConcurrently(
            "workflowexecution", models.Index(fields=["status", "tenant"], name="idx_wf_executions_status")
        ),
    ]
