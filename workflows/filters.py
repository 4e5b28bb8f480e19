"""Filters of the workflow and execution lists; a bad value is a 400 naming the parameter."""

from __future__ import annotations

import django_filters

from workflows.models import ExecutionStatus, Workflow, WorkflowExecution, WorkflowStatus, WorkflowType


class WorkflowFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=WorkflowStatus.choices, help_text="Repeat for several.")
    workflow_type = django_filters.ChoiceFilter(choices=WorkflowType.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Workflow
        fields = ["status", "workflow_type", "name"]


class ExecutionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ExecutionStatus.choices, help_text="Repeat for several.")
    workflow_id = django_filters.UUIDFilter(field_name="workflow_id")

    class Meta:
        model = WorkflowExecution
        fields = ["status", "workflow_id"]
