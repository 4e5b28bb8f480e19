"""Indexes of the admin's overview (mcpadmin/dashboard.py): tasks created and ended in the last 24 hours across
tenants, delegations and escalations of the last 24 hours. Built concurrently: these tables are large in production."""

from django.db import migrations, models
from django.db.models import Q

from mcpadmin.db.migration_ops import ResumableAddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0007_alter_task_workflow_execution_and_more"),
    ]

    operations = [
        ResumableAddIndexConcurrently("task", models.Index(fields=["created_at"], name="idx_tasks_created")),
        ResumableAddIndexConcurrently(
            "task",
            models.Index(fields=["completed_at"], name="idx_tasks_completed", condition=Q(completed_at__isnull=False)),
        ),
        ResumableAddIndexConcurrently(
            "taskdelegationhistory", models.Index(fields=["created_at"], name="idx_task_delegation_created")
        ),
        ResumableAddIndexConcurrently(
            "taskstatetransition",
            models.Index(
                fields=["created_at"], name="idx_task_transitions_escalated", condition=Q(metadata__event="escalation")
            ),
        ),
    ]
