"""Filters of the agent and task lists; a bad value is a 400 naming the parameter, never ignored."""

from __future__ import annotations

import django_filters

from tasks.models import Task, TaskPriority, TaskStatus


class TaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices, help_text="Repeat for several.")
    priority = django_filters.MultipleChoiceFilter(choices=TaskPriority.choices, help_text="Repeat for several.")
    assigned_agent_id = django_filters.UUIDFilter(field_name="assigned_agent_id")
    parent_task_id = django_filters.UUIDFilter(field_name="parent_task_id")
    workspace_id = django_filters.UUIDFilter(field_name="workspace_id")
    workflow_execution_id = django_filters.UUIDFilter(field_name="workflow_execution_id")
    workflow_step = django_filters.CharFilter(field_name="workflow_step")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(
        fields=("created_at", "priority", "status", "status_changed_at", "deadline", "title"),
        help_text="A field, `-` for descending; priority orders low < medium < high < critical.",
    )

    class Meta:
        model = Task
        fields = [
            "status", "priority", "assigned_agent_id", "parent_task_id", "workspace_id", "workflow_execution_id",
            "workflow_step", "created_after", "created_before",
        ]  # fmt: skip
