"""Cleaning of the values services receive: the same messages whichever door they came in by."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings

from mcpadmin.core.errors import invalid

#: PostgreSQL's `integer` column range: what an integer field accepts unless it says otherwise.
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
#: A keyword argument that was not given (None is a value: "set it to null").
UNSET: Any = object()
MAX_TAG_LENGTH = 100


def clean_text(value: Any, field: str, max_length: int, *, required: bool) -> str:
    """A stripped string of at most `max_length` characters (and not blank when `required`)."""
    if not isinstance(value, str):
        raise invalid(field, f"{field} must be a string.")
    problem = text_problem(value)
    if problem:
        raise invalid(field, f"{field} {problem}.")
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


#: Defaults of the free-form JSON limits (settings MCPADMIN_JSON_MAX_BYTES and MCPADMIN_JSON_MAX_DEPTH).
DEFAULT_JSON_MAX_BYTES = 64 * 1024
DEFAULT_JSON_MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_limits() -> tuple[int, int]:
    return (
        getattr(settings, "MCPADMIN_JSON_MAX_BYTES", DEFAULT_JSON_MAX_BYTES),
        getattr(settings, "MCPADMIN_JSON_MAX_DEPTH", DEFAULT_JSON_MAX_DEPTH),
    )


def text_problem(text: str) -> str | None:
    """Why PostgreSQL would refuse this string (in text or jsonb), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    if _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate, which is not Unicode text"
    return None


def json_path(path: str, key: str | int) -> str:
    """`path.key` or `path[index]`: how errors name a place inside a JSON value."""
    if not path:
        return str(key)
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def json_problem(value: Any, path: str, *, max_depth: int) -> tuple[str, str] | None:
    """The first `(path, problem)` of a JSON value PostgreSQL's jsonb would refuse or we do not store, or None.

    Iterative (a value nested 10,000 deep is refused, not a RecursionError): strings and keys without NUL or
    lone surrogates, numbers finite, containers at most `max_depth` deep, only JSON's own types.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where, problem
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                return where, "is not a finite number (NaN and Infinity are not JSON)"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return where, f"is nested deeper than {max_depth} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    problem = text_problem(key)
                    if problem:
                        return where, f"has a key that {problem}"
                elif isinstance(item, dict):
                    return where, "has a key that is not a string"
                stack.append((child, json_path(where, key), depth + 1))
        else:
            return where, f"holds a {type(item).__name__}, which is not a JSON value"
    return None


def free_json_problem(
    value: Any, field: str, *, max_bytes: int | None = None, max_depth: int | None = None
) -> str | None:
    """Why `value` is not a storable free-form JSON value within the limits (a message naming the path), or None.

    The one check of every free-form JSON field (metadata, settings, features, input and output data,
    workflow definitions, filters), whichever door the value came in by (API, admin, command, engine).
    Limits: settings MCPADMIN_JSON_MAX_BYTES (64 KB of UTF-8 JSON) and MCPADMIN_JSON_MAX_DEPTH (32).
    """
    default_bytes, default_depth = _json_limits()
    max_bytes = default_bytes if max_bytes is None else max_bytes
    max_depth = default_depth if max_depth is None else max_depth
    found = json_problem(value, field, max_depth=max_depth)
    if found:
        where, problem = found
        return f"{where} {problem}."
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        return f"{field} is {size} bytes of JSON; the limit is {max_bytes}."
    return None


def clean_json(value: Any, field: str, *, max_bytes: int | None = None, max_depth: int | None = None) -> Any:
    """`value`, or a 400 naming `field` (see `free_json_problem`): never a database error later."""
    problem = free_json_problem(value, field, max_bytes=max_bytes, max_depth=max_depth)
    if problem:
        raise invalid(field, problem)
    return value


def clean_object(value: Any, field: str) -> dict[str, Any]:
    """A free-form JSON object (see `clean_json`)."""
    if not isinstance(value, dict):
        raise invalid(field, f"{field} must be an object.")
    return clean_json(value, field)
