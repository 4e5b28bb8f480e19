"""Filters of the agent and task lists; a bad value is a 400 naming the parameter, never ignored."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from tasks.models import Agent, AgentStatus, Task, TaskPriority, TaskStatus
from tasks.selectors import online_since

_BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


class AgentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AgentStatus.choices)
    online = django_filters.ChoiceFilter(
        choices=_BOOLEAN_CHOICES, method="filter_online", help_text="Seen within the online window (default 60 s)."
    )
    capability = django_filters.CharFilter(method="filter_capability", help_text="Agents that have this capability.")
    ordering = django_filters.OrderingFilter(fields=("name", "last_seen_at", "created_at"))

    class Meta:
        model = Agent
        fields = ["status", "online", "capability"]

    def filter_online(self, queryset: QuerySet[Agent], name: str, value: str) -> QuerySet[Agent]:
        seen_recently = Q(last_seen_at__gte=online_since())
        return queryset.filter(seen_recently) if value == "true" else queryset.exclude(seen_recently)

    def filter_capability(self, queryset: QuerySet[Agent], name: str, value: str) -> QuerySet[Agent]:
        return queryset.filter(capabilities__contains=[value])


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
