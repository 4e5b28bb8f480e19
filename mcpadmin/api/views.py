"""Base classes of every authenticated endpoint: who calls, which tenant, which service, how often.

Order of checks: authentication (401), rate limit (429, counted for every
authenticated call, including refused ones), permission (403), then the view.
Views scope their querysets to the caller's tenant by inheriting
`TenantScopedViewSet`; objects of other tenants are 404 like missing ones.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys import policy, ratelimit
from mcpadmin.api.auth import INVALID_KEY_MESSAGE, ApiKeyAuthentication, ServicePermission
from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import NotFound, RateLimited, invalid
from tenants.config import burst_limit_for, limits_for


def refuse_nul(request: Request, path_values: dict[str, Any]) -> None:
    """NUL in a path segment is a 404 (no name holds one), in a query parameter a 400 naming it: PostgreSQL
    refuses the character, so it must not reach a query."""
    if any(isinstance(value, str) and "\x00" in value for value in path_values.values()):
        raise NotFound()
    for name, values in request.query_params.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            label = name.replace("\x00", "\\u0000")
            raise invalid(label, f"{label} contains a NUL character (\\u0000).")


def query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter: `true` or `false` (absent or empty: false); anything else is a 400 naming it."""
    value = request.query_params.get(name, "")
    if value not in ("", "true", "false"):
        raise invalid(name, f"{name} is true or false.")
    return value == "true"


class PlatformViewMixin:
    """Declare `service` (one of `apikeys.SERVICES`, or `KEY_ITSELF`); `service_actions` maps view actions
    to read/write. A view that declares none is refused to every key (and named by system check mcpadmin.E001)."""

    service: str = ""
    service_actions: dict[str, str] = {}
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [ServicePermission]

    def get_service_action(self, request: Request) -> str:
        action = getattr(self, "action", None)
        if action in self.service_actions:
            return self.service_actions[action]
        return policy.action_for_method(request.method or "GET")

    @property
    def actor(self) -> Actor:
        """The caller (`request.user` is the `Actor` of the API key)."""
        return self.request.user

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """DRF's `initial`, with the rate limit between authentication and permissions."""
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        self.perform_authentication(request)
        self.check_rate_limit(request)
        self.check_permissions(request)
        refuse_nul(request, kwargs)

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> None:
        if not isinstance(request.user, Actor):
            # A missing key gets the very answer a wrong one gets.
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        super().permission_denied(request, message=message, code=code)

    def check_rate_limit(self, request: Request) -> None:
        actor = request.user
        if not isinstance(actor, Actor):
            return
        config = getattr(actor.tenant, "config", None)
        rate_limit_config = config.rate_limit_config if config else None
        decisions = [ratelimit.take_windows(f"key:{actor.key_id}", limits_for(rate_limit_config, actor.key_type))]
        burst = burst_limit_for(rate_limit_config, self.service)
        if burst is not None:
            decisions.append(ratelimit.take_burst(f"key:{actor.key_id}:{self.service}", burst, name=self.service))
        decision = ratelimit.combine(*decisions)
        request._request.rate_limit_headers = decision.headers()
        if not decision.allowed:
            ratelimit.record_refusal(actor.tenant_id, actor.key_type)
            metrics.RATE_LIMIT_REFUSALS.labels(tenant=str(actor.tenant_id)).inc()
            raise RateLimited(
                "rate_limited",
                "Rate limit exceeded; retry after the number of seconds in Retry-After.",
                {"retry_after": decision.retry_after},
            )

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in getattr(request._request, "rate_limit_headers", {}).items():
            response[name] = value
        return response


class PlatformAPIView(PlatformViewMixin, APIView):
    pass


class TenantScopedViewSet(PlatformViewMixin, viewsets.GenericViewSet):
    """Every queryset is what the caller may see of its tenant's: `model.objects.visible_to(actor)` (the one place
    that restricts, `mcpadmin.db.querysets`), then the tenant. Subclasses set `queryset`, or override
    `get_base_queryset` to order or join, starting from `visible_to` themselves."""

    tenant_field = "tenant"

    def get_base_queryset(self) -> QuerySet:
        return super().get_queryset().model.objects.visible_to(self.actor)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view, no caller
            return super().get_queryset().none()
        return self.get_base_queryset().filter(**{f"{self.tenant_field}_id": self.actor.tenant_id})
