"""Cleaning of the values services receive: the same messages whichever door they came in by."""

from __future__ import annotations

from typing import Any

from mcpadmin.core.errors import invalid

#: A keyword argument that was not given (None is a value: "set it to null").
UNSET: Any = object()
MAX_TAG_LENGTH = 100


def clean_text(value: Any, field: str, max_length: int, *, required: bool) -> str:
    """A stripped string of at most `max_length` characters (and not blank when `required`)."""
    if not isinstance(value, str):
        raise invalid(field, f"{field} must be a string.")
    value = value.strip()
    if required and not value:
        raise invalid(field, f"{field} may not be blank.")
    if len(value) > max_length:
        raise invalid(field, f"{field} has at most {max_length} characters.")
    return value


def clean_tags(value: Any, field: str) -> list[str]:
    """A list of distinct non-empty strings (capabilities, team tags), in their first order."""
    if not isinstance(value, list) or not all(isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_LENGTH for tag in value):
        raise invalid(field, f"{field} must be a list of strings of 1 to {MAX_TAG_LENGTH} characters.")
    return list(dict.fromkeys(value))


def clean_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(field, f"{field} must be an object.")
    return value
