"""What every app's admin shares: the operator as an `Actor`, service refusals as messages, read-only stores.

The admin is an interface like the API: it calls the same services, so the
same rules hold; these helpers keep each app's `admin.py` thin.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from mcpadmin.api.auth import client_ip
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError


def operator_actor(request: HttpRequest) -> Actor:
    """The logged-in operator, as the services know callers."""
    return Actor.for_operator(request.user.get_username())


def operator_client_ip(request: HttpRequest) -> str | None:
    """The address django-axes counts an operator's logins by (`AXES_CLIENT_IP_CALLABLE`): the API's `client_ip`
    (X-Forwarded-For behind MCPADMIN_TRUSTED_PROXIES), else REMOTE_ADDR when that is no address, else None (axes
    stores addresses in an IP column: a forged header must not turn a login into a server error)."""
    for candidate in (client_ip(request), request.META.get("REMOTE_ADDR")):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def refusal_text(error: DomainError) -> str:
    """A service's refusal in one line: the message, then what is wrong with each field."""
    details = "; ".join(
        f"{field}: {', '.join(map(str, problems))}" if isinstance(problems, list) else f"{field}: {problems}"
        for field, problems in (error.details.items() if isinstance(error.details, dict) else [])
    )
    return f"{error.message} {details}".strip()


def each_through_service(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    operation: Callable[[Any], Any],
    *,
    label: Callable[[Any], str],
    done: Callable[[int], str],
    refused: str,
) -> None:
    """An admin action: `operation(obj)` for each selected object (each its own service call), then one message
    for what was done (a None result: nothing to do) and one listing each refusal as `<label>: <why>`."""
    count, refusals = 0, []
    for obj in queryset:
        try:
            result = operation(obj)
        except DomainError as error:
            refusals.append(f"{label(obj)}: {error.message}")
        else:
            count += result is not None
    if count:
        modeladmin.message_user(request, done(count), messages.SUCCESS)
    if refusals:
        modeladmin.message_user(request, f"{refused}: " + " ".join(refusals), messages.ERROR)


class ServiceRefusalsAsMessages:
    """A DomainError raised by a service while saving becomes an error message on the same page (nothing saved)."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, f"Not saved: {refusal_text(error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the services with the change they record (history, stored keys): read-only here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IdempotencyRecordAdmin(ReadOnlyAdmin):
    """Stored Idempotency-Keys. The stored key is `<tenant id>:<SHA-256 of the client's key>`: search by the
    client's key too."""

    list_filter = ("tenant",)
    search_fields = ("idempotency_key",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            digest = hashlib.sha256(search_term.strip().encode()).hexdigest()
            found = found | queryset.filter(idempotency_key__endswith=f":{digest}")
        return found, may_have_duplicates
