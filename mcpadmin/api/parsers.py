"""The API's one JSON parser: bounded, strict, and never a 500 whatever the body.

- A body over its limit is a JSON 413 (`payload_too_large`), read from the stream up to the limit and
  never further: `MCPADMIN_REQUEST_MAX_BYTES` for every endpoint, `MCPADMIN_INGEST_MAX_BYTES` for ingest
  (`IngestJSONParser`). Django's DATA_UPLOAD_MAX_MEMORY_SIZE (an HTML 400) is never reached.
- `NaN`, `Infinity` and numbers beyond a double (`1e999`) are not JSON: a 400 naming the path (the walk
  over numbers only runs when the raw text holds such a literal or a 3-digit exponent).
- Nesting deeper than the free-form limit allows (`MCPADMIN_JSON_MAX_DEPTH` plus `ENVELOPE_DEPTH` levels
  of the request's own structure) is a 400 naming the path; `"[" * 10000` is a 400, not a RecursionError.
- Strings and keys with NUL or a lone surrogate (`\\u0000`, `\\udfff`) are a 400 naming the path:
  PostgreSQL stores neither. The walk over strings only runs when the raw text has such an escape.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from mcpadmin.core.errors import DomainError, PayloadTooLarge
from mcpadmin.core.validation import json_path, text_problem

#: Levels a request body may nest around its free-form JSON values (`documents[0].metadata` is 3).
ENVELOPE_DEPTH = 8
#: Escapes that can produce text PostgreSQL refuses: NUL and the UTF-16 surrogate range.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def payload_too_large(limit: int) -> PayloadTooLarge:
    """The platform's one 413: what the limit is, in bytes."""
    return PayloadTooLarge(
        "payload_too_large", f"The request body exceeds the limit of {limit} bytes.", {"limit_bytes": limit}
    )


#: An exponent that can overflow a double (1e999). With the literals NaN and Infinity (found by `in`, faster than
#: an alternation), what makes the parser walk the numbers. A float overflowing by its mantissa alone (400
#: digits before the point) is left to the fields, which refuse non-finite numbers too (`clean_json`, vectors).
_BIG_EXPONENT = re.compile(r"[eE]\+?[0-9]{3}")

Path = tuple[str | int, ...]


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError as error:
        raise ValueError("nested too deeply") from error


def _path_text(path: Path) -> str:
    text = ""
    for part in path:
        text = json_path(text, part)
    return text


def body_problem(data: Any, *, check_text: bool, check_numbers: bool, max_depth: int) -> tuple[Path, str] | None:
    """The first `(path, problem)` of a parsed body: nesting beyond `max_depth`; with `check_text`, a string
    or key `text_problem` refuses; with `check_numbers`, NaN or an infinity. Iterative; it visits containers
    only unless a check asks for more (the caller asks when the raw text holds a suspect)."""
    if not isinstance(data, dict | list):
        if check_numbers and isinstance(data, float) and not math.isfinite(data):
            return (), "is not a finite number (NaN and Infinity are not JSON)"
        return None
    stack: list[tuple[Any, Path, int]] = [(data, (), 1)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            return path, f"is nested deeper than {max_depth} levels"
        kinds = set(map(type, item.values() if isinstance(item, dict) else item))  # C speed: no Python loop
        if not (check_text or check_numbers or dict in kinds or list in kinds):
            continue  # a list of numbers (an embedding), say: nothing below it to visit
        for key, child in item.items() if isinstance(item, dict) else enumerate(item):
            if check_text and isinstance(key, str) and (problem := text_problem(key)):
                return path, f"has a key that {problem}"
            if isinstance(child, dict | list):
                stack.append((child, (*path, key), depth + 1))
            elif check_text and isinstance(child, str) and (problem := text_problem(child)):
                return (*path, key), problem
            elif check_numbers and isinstance(child, float) and not math.isfinite(child):
                return (*path, key), "is not a finite number (NaN and Infinity are not JSON)"
    return None


def refusal(path: Path, problem: str) -> DomainError:
    """A 400 whose details nest like a serializer's (`{"documents": {"1": {"embedding": [...]}}}`)."""
    message = f"{_path_text(path) or 'The body'} {problem}."
    details: Any = [message]
    for part in reversed(path or ("non_field_errors",)):
        details = {str(part): details}
    return DomainError("invalid", message, details)


def loads(text: str, *, max_depth: int | None = None) -> Any:
    """Strict JSON (of a query parameter, say): a ValueError for what the API's parser refuses."""
    data = _parse(text)
    found = body_problem(
        data, check_text=True, check_numbers=True, max_depth=max_depth or settings.MCPADMIN_JSON_MAX_DEPTH
    )
    if found:
        path, problem = found
        raise ValueError(f"{_path_text(path) or 'the value'} {problem}")
    return data


class JSONParser(BaseParser):
    """`application/json` bodies up to `max_bytes()`; see the module's docstring for what it refuses."""

    media_type = "application/json"
    limit_setting = "MCPADMIN_REQUEST_MAX_BYTES"

    def max_bytes(self) -> int:
        return int(getattr(settings, self.limit_setting))

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        context = parser_context or {}
        limit = self.max_bytes()
        request = context.get("request")
        declared = request.META.get("CONTENT_LENGTH", "") if request is not None else ""
        if declared.isdigit() and int(declared) > limit:
            raise payload_too_large(limit)
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise payload_too_large(limit)
        try:
            text = body.decode(context.get("encoding") or "utf-8")
            data = _parse(text)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {error}") from error
        found = body_problem(
            data,
            check_text=_SUSPECT_ESCAPE.search(text) is not None,
            check_numbers="NaN" in text or "Infinity" in text or _BIG_EXPONENT.search(text) is not None,
            max_depth=settings.MCPADMIN_JSON_MAX_DEPTH + ENVELOPE_DEPTH,
        )
        if found:
            raise refusal(*found)
        return data


class IngestJSONParser(JSONParser):
    """Ingest batches: up to MCPADMIN_INGEST_MAX_BYTES (10 MB by default)."""

    limit_setting = "MCPADMIN_INGEST_MAX_BYTES"
