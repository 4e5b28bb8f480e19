"""The `503` of an outage for requests outside DRF's exception handler (the admin, plain Django views)."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from rest_framework import status

from mcpadmin.api.errors import database_unavailable
from mcpadmin.db import outage


class DatabaseUnavailableMiddleware:
    """An unreachable database is a `503` with `Retry-After` everywhere, logged once per outage, never a 500."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (isinstance(exception, DatabaseError) and outage.is_unavailable(exception)):
            return None
        if request.path.startswith("/api/"):
            return database_unavailable(exception)
        outage.note_down(exception)
        response = HttpResponse(
            "The database is unavailable; retry shortly.\n",
            content_type="text/plain",
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(outage.RETRY_AFTER_SECONDS)},
        )
        response._has_been_logged = True  # see database_unavailable
        return response
