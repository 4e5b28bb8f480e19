"""What every app's admin shares: the theme's base classes, the operator as an `Actor`, service refusals as
messages, read-only stores, and times in the operator's time zone.

The admin is an interface like the API: it calls the same services, so the
same rules hold; these helpers keep each app's `admin.py` thin. Every
ModelAdmin and inline derives from `ModelAdmin`, `TabularInline` or
`StackedInline` here (django-unfold's), so the whole admin looks alike
(`tests/test_admin_pages.py` checks every registered one).
"""

from __future__ import annotations

import hashlib
import ipaddress
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import StackedInline as UnfoldStackedInline
from unfold.admin import TabularInline as UnfoldTabularInline

from mcpadmin.api.auth import client_ip
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError


class ModelAdmin(UnfoldModelAdmin):
    """The base of every ModelAdmin of the project (django-unfold's: one look, filters in a side sheet)."""


class TabularInline(UnfoldTabularInline):
    """The base of every tabular inline."""


class StackedInline(UnfoldStackedInline):
    """The base of every stacked inline."""


#: The cookie in which the admin's script (static/mcpadmin/operator_time_zone.js) stores the browser's IANA zone.
TIME_ZONE_COOKIE = "mcpadmin_tz"


class OperatorTimeZoneMiddleware:
    """Admin pages show times in the operator's time zone: the browser's (cookie `mcpadmin_tz`), else
    MCPADMIN_OPERATOR_TIME_ZONE. Other paths (the API) keep UTC: their clients read ISO 8601 with an offset."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        timezone.activate(operator_time_zone(request))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def operator_time_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    """The browser's zone when it named a real one, else the configured default (a bad cookie is ignored)."""
    for name in (request.COOKIES.get(TIME_ZONE_COOKIE, ""), settings.MCPADMIN_OPERATOR_TIME_ZONE):
        try:
            return zoneinfo.ZoneInfo(name)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            continue
    return zoneinfo.ZoneInfo("UTC")


def human_time(moment: datetime | str | None) -> str:
    """A time as an operator reads it: local date and time with its zone, and how long ago (or until) it is.

    Accepts the ISO 8601 strings the engine keeps in JSON state too."""
    if moment in (None, ""):
        return "-"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    local = timezone.localtime(moment)
    now = timezone.now()
    if abs((now - moment).total_seconds()) < 60:
        relative = "just now"
    else:
        relative = f"{timesince(moment, now)} ago" if moment <= now else f"in {timesince(now, moment)}"
    return format_html(
        '<span title="{}">{} <small>({})</small></span>',
        moment.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        relative.replace("\xa0", " "),
    )


def actor_label(metadata: dict[str, Any] | None) -> str:
    """Who acted, from the `metadata.actor` the services write on history rows (`Actor.audit()`): "operator
    alice", "command escalate_tasks", an API key linked to its page, or the database user of a write that
    bypassed the services."""
    metadata = metadata or {}
    actor = metadata.get("actor")
    if isinstance(actor, dict):
        if actor.get("api_key_id"):
            url = reverse("admin:apikeys_apikey_change", args=[actor["api_key_id"]])
            return format_html('<a href="{}">{} key</a>', url, actor.get("key_type") or "API")
        source, name = actor.get("source") or "", actor.get("operator") or ""
        if source in ("admin", "command"):
            return f"{'operator' if source == 'admin' else 'command'} {name}"
        return name or source or "-"
    if metadata.get("source") == "database":
        return f"database user {metadata.get('database_user') or '?'} ({metadata.get('application_name') or '-'})"
    return "-"


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


class ReadOnlyAdmin(ModelAdmin):
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
