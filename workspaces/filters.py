"""Filters of the workspace list."""

from __future__ import annotations

import django_filters

from workspaces.models import Workspace, WorkspaceVisibility


class WorkspaceFilter(django_filters.FilterSet):
    visibility = django_filters.ChoiceFilter(choices=WorkspaceVisibility.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Workspace
        fields = ["visibility", "name"]
