"""Serializer plumbing shared by every API: strict JSON types, bounded integers, free-form JSON fields."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from mcpadmin.core.errors import DomainError
from mcpadmin.core.validation import INT4_MAX, INT4_MIN, clean_json


def _expected_json_type(field: serializers.Field) -> tuple[tuple[type, ...], str] | None:
    """The JSON type(s) a field accepts, and how to name them; None: any (or the field checks itself)."""
    if isinstance(field, serializers.BooleanField):
        return (bool,), "a boolean"
    if isinstance(field, serializers.IntegerField):
        return (int,), "an integer"
    if isinstance(field, serializers.FloatField):
        return (int, float), "a number"
    if isinstance(field, serializers.DecimalField):
        return (int, float, str), "a number"  # responses render decimals as strings: accept them back
    if isinstance(field, serializers.MultipleChoiceField):
        return (list,), "an array"
    if isinstance(field, serializers.ChoiceField):
        if all(isinstance(choice, str) for choice in field.choices):
            return (str,), "a string"
        return None
    if isinstance(field, serializers.CharField | serializers.UUIDField | serializers.DateTimeField):
        return (str,), "a string"
    if isinstance(field, serializers.DateField | serializers.TimeField | serializers.DurationField):
        return (str,), "a string"
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return (dict,), "an object"
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return (list,), "an array"
    return None


def json_type_errors(field: serializers.Field, value: Any) -> list[str]:
    """Why `value` (parsed JSON) is not of the type `field` takes: DRF alone turns 5 into "5" and "5" into 5."""
    if value is None:
        return []  # allow_null is the field's own business
    expected = _expected_json_type(field)
    if expected is None:
        return []
    types, name = expected
    if isinstance(value, bool) and bool not in types:
        return [f"Expected {name}, got a boolean."]
    if not isinstance(value, types):
        return [f"Expected {name}."]
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for index, item in enumerate(value):
            problems = json_type_errors(field.child, item)
            if problems:
                return [f"Item {index}: {problems[0]}"]
    return []


class StrictSerializer(serializers.Serializer):
    """Rejects members it does not accept, and values of another JSON type, instead of converting them.

    Unknown or read-only members are named (a typo, or an attempt to set `tenant`, is an error, not
    silently dropped); `"k": "5"` for an integer and `5` for a string are errors, as the docs promise.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name: field for name, field in self.fields.items() if not field.read_only}
            errors: dict[str, list[str]] = {
                name: ["This field is read-only." if name in self.fields else "Unknown field."]
                for name in sorted(set(data) - set(writable))
            }
            for name, field in writable.items():
                if name in data:
                    problems = json_type_errors(field, data[name])
                    if problems:
                        errors[name] = problems
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, within PostgreSQL's `integer` unless `min_value`/`max_value` say otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", INT4_MIN)
        kwargs.setdefault("max_value", INT4_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class FreeJSONMixin:
    """`clean_json` on the way in: MCPADMIN_JSON_MAX_BYTES / _DEPTH unless `max_bytes` / `max_depth` say."""

    def __init__(self, *, max_bytes: int | None = None, max_depth: int | None = None, **kwargs: Any) -> None:
        self.max_bytes, self.max_depth = max_bytes, max_depth
        super().__init__(**kwargs)

    def clean_free_json(self, data: Any) -> None:
        try:
            clean_json(data, self.field_name or "value", max_bytes=self.max_bytes, max_depth=self.max_depth)
        except DomainError as error:
            raise serializers.ValidationError(error.message) from error


class JSONValueField(FreeJSONMixin, serializers.JSONField):
    """Free-form JSON of any type (`core.validation.clean_json`)."""

    def to_internal_value(self, data: Any) -> Any:
        self.clean_free_json(data)
        return super().to_internal_value(data)


class JSONObjectField(FreeJSONMixin, serializers.DictField):
    """A free-form JSON object (metadata, settings, input): `clean_json`'s checks and limits."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        self.clean_free_json(data)
        return super().to_internal_value(data)
