"""Pagination of every list endpoint."""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

#: The largest offset: beyond it no list has rows, and PostgreSQL's OFFSET stays in range.
MAX_OFFSET = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=`; the body carries `count`, `next`, `previous` and `results`.

    `limit` is an integer from 1 (above `max_limit` it is `max_limit`), `offset` an integer from 0; anything
    else (`-1`, `abc`, `1.5`) is a 400 naming the parameter rather than silently the default.
    """

    default_limit = 50
    max_limit = 500

    def _integer(self, request: Request, name: str, minimum: int) -> int | None:
        if name not in request.query_params:
            return None
        text = request.query_params[name]
        value = int(text) if _DIGITS.fullmatch(text) else None
        if value is None or not minimum <= value <= MAX_OFFSET:
            raise ValidationError({name: [f"Must be an integer from {minimum} to {MAX_OFFSET}."]})
        return value

    def get_limit(self, request: Request) -> int:
        value = self._integer(request, self.limit_query_param, 1)
        return self.default_limit if value is None else min(value, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._integer(request, self.offset_query_param, 0) or 0
