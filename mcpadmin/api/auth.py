"""Authentication by API key, and the permission check every endpoint shares."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apikeys import policy, ratelimit
from apikeys.models import ApiKey
from apikeys.services import apikey_authenticate
from audit.context import add_actor
from mcpadmin.core import metrics
from mcpadmin.core.access import KEY_ITSELF, SERVICES
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden, RateLimited
from tenants.config import feature_enabled

INVALID_KEY_MESSAGE = "Invalid or missing API key."


def client_ip(request: HttpRequest) -> str:
    """The caller's address; behind MCPADMIN_TRUSTED_PROXIES proxies, taken from X-Forwarded-For."""
    proxies = settings.MCPADMIN_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[max(0, len(addresses) - proxies)]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def presented_key(request: HttpRequest) -> str | None:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    value = request.META.get("HTTP_X_API_KEY")
    return value.strip() if value is not None else None


class ApiKeyAuthentication(BaseAuthentication):
    """Unknown, wrong, expired, revoked and inactive-tenant keys all get the same 401.

    A client that keeps failing is slowed down: past
    MCPADMIN_AUTH_FAILURES_PER_MINUTE failures its failures are answered 429
    (a correct key still works, so a shared address is not locked out by
    someone else's mistakes).
    """

    def authenticate(self, request: Request) -> tuple[Actor, ApiKey] | None:
        raw_key = presented_key(request._request)
        if raw_key is None:
            return None
        key = apikey_authenticate(raw_key) if raw_key else None
        if key is None:
            decision = ratelimit.record_auth_failure(client_ip(request._request))
            metrics.AUTH_FAILURES.labels(reason="invalid_key" if decision.allowed else "throttled").inc()
            if not decision.allowed:
                raise RateLimited(
                    "too_many_failures",
                    "Too many failed authentications from this client; slow down.",
                    retry_after=decision.retry_after,
                )
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        actor = Actor.for_key(key)
        add_actor(actor)  # the writes of this request are audited as this key's
        return actor, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mcpadmin"'


class ServicePermission(BasePermission):
    """The key-type matrix, `allowed_services` and the tenant's feature switches, for the view's service."""

    def has_permission(self, request: Request, view: Any) -> bool:
        actor = request.user
        if not isinstance(actor, Actor):
            return False  # DRF answers 401: no credentials
        service = getattr(view, "service", "")
        if service == KEY_ITSELF:
            return True
        if service not in SERVICES:  # fails closed; the system check mcpadmin.E001 names such views
            raise Forbidden("service_undeclared", "This endpoint declares no service; no key may call it.")
        config = getattr(actor.tenant, "config", None)
        if not feature_enabled(config.features if config else None, service):
            raise Forbidden(
                "feature_disabled", f"The {service} service is switched off for this tenant.", {"service": service}
            )
        action = (
            view.get_service_action(request)
            if hasattr(view, "get_service_action")
            else policy.action_for_method(request.method or "GET")
        )
        if not policy.services_allow(actor.key.allowed_services, service):
            raise Forbidden(
                "service_not_allowed", f"This key may not call the {service} service.", {"service": service}
            )
        if not policy.key_type_allows(actor.key_type, service, action):
            raise Forbidden(
                "service_not_allowed",
                f"A {actor.key_type} key may not {action} in the {service} service.",
                {"service": service, "action": action},
            )
        return True
