"""Filters of the agent list; a bad value is a 400 naming the parameter, never ignored."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from agents.models import Agent, AgentStatus
from agents.selectors import online_since

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
