"""The audit context of every HTTP request: its id, the client's address, and an admin page's operator."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from audit.context import add_operator, request_context
from mcpadmin.api.auth import client_ip
from mcpadmin.api.observability import request_id_of


def is_admin_page(request: HttpRequest) -> bool:
    """Under the admin's URL (of the URLconf in force: tests and benchmarks use others, without an admin)."""
    try:
        return request.path.startswith(reverse("admin:index"))
    except NoReverseMatch:
        return False


class AuditContextMiddleware:
    """Opens the audit context of the request (after authentication, so that the admin's operator is known), with
    the request's one id (`mcpadmin.api.observability.request_id_of`, answered in `X-Request-ID`), so that a
    client finds the events of its call."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        with request_context(request_id=request_id, client_ip=client_ip(request)):
            if is_admin_page(request) and request.user.is_authenticated:
                add_operator(request.user.get_username(), request.user.pk)
            response = self.get_response(request)
        return response
