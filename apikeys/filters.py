"""Filters of the API key list; a bad value is a 400 naming the parameter, never ignored."""

from __future__ import annotations

import django_filters

from apikeys.models import ApiKey
from mcpadmin.core.access import KeyType


class ApiKeyFilter(django_filters.FilterSet):
    key_type = django_filters.ChoiceFilter(choices=KeyType.choices)
    parent_key_id = django_filters.UUIDFilter(field_name="parent_key_id")
    agent_id = django_filters.UUIDFilter(field_name="agent_id")
    #: `true` or `false`, anything else a 400 (a BooleanFilter would silently ignore `?is_active=yes please`).
    is_active = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = ApiKey
        fields = ["key_type", "parent_key_id", "agent_id", "is_active"]
