"""Per request: the request id, the JSON log line's fields, the API request counter; and the /metrics endpoint.

`X-Request-ID`: a caller's id (1 to 128 visible ASCII characters) is kept, anything else is replaced by a new UUID;
the response carries it, and every log line written during the request has it (django-structlog binds it).
The one line per request is django-structlog's `request_finished` (its `request_started` is DEBUG), to which
`request_finished_fields` adds the tenant id, the key prefix (never the key), key type, service and latency.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from django_structlog import signals

from apikeys.models import ApiKey
from mcpadmin.api.auth import client_ip
from mcpadmin.core import metrics

REQUEST_ID_HEADER = "X-Request-ID"
#: A request id sent by the client (a proxy, a gateway) is kept when it looks like one (and fits the audit trail's
#: `request_id` column); otherwise one is made.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(request: HttpRequest) -> str:
    """The request's id, settled once per request (`RequestIdMiddleware`, the outermost of ours, asks first): the
    one id that the response header, the log lines and the audit trail's rows carry."""
    if not hasattr(request, "request_id"):
        sent = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = sent if _VALID_REQUEST_ID.fullmatch(sent) else str(uuid.uuid4())
        request.META["HTTP_X_REQUEST_ID"] = request.request_id
    return request.request_id


def _view_service(request: HttpRequest) -> str | None:
    """The service an API view declares; None for what is not an API view (admin, static files, 404s)."""
    match = getattr(request, "resolver_match", None)
    view = getattr(match.func, "cls", None) if match else None
    if view is None or not hasattr(view, "permission_classes"):
        return None
    return getattr(view, "service", "") or "none"


def _key(request: HttpRequest) -> ApiKey | None:
    key = getattr(request, "auth", None)  # DRF sets it on the Django request once the key is authenticated
    return key if isinstance(key, ApiKey) else None


class RequestIdMiddleware:
    """Outermost of ours: settles the request id before django-structlog reads it, times the request, counts it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        structlog.contextvars.clear_contextvars()  # nothing of the previous request on this thread
        request_id = request_id_of(request)
        request.started_at = time.perf_counter()
        response = self.get_response(request)
        # django-structlog clears its context when it is done; what Django logs after the middleware (a 5xx
        # response returned by a view) still gets the id. The next request clears it first.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response[REQUEST_ID_HEADER] = request_id
        service = _view_service(request)
        if service is not None:
            key = _key(request)
            metrics.API_REQUESTS.labels(
                service=service, key_type=key.key_type if key else "none", status=str(response.status_code)
            ).inc()
        return response


def _request_fields(request: HttpRequest) -> dict[str, Any]:
    key = _key(request)
    started = getattr(request, "started_at", None)
    return {
        "service": _view_service(request),
        "tenant_id": str(key.tenant_id) if key else None,
        "key_prefix": key.key_prefix if key else None,
        "key_type": key.key_type if key else None,
        "client_ip": client_ip(request),
        "latency_ms": round((time.perf_counter() - started) * 1000, 2) if started is not None else None,
    }


@receiver(signals.bind_extra_request_finished_metadata)
def request_finished_fields(request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: Any) -> None:
    log_kwargs.update(_request_fields(request))


@receiver(signals.bind_extra_request_failed_metadata)
def request_failed_fields(request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: Any) -> None:
    log_kwargs.update(_request_fields(request))


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in settings.MCPADMIN_METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. Off (404) unless MCPADMIN_METRICS_TOKEN or MCPADMIN_METRICS_ALLOWED_NETWORKS is set;
    with both, both are required. Not an API view: no API key, no rate limit, no service."""
    token = settings.MCPADMIN_METRICS_TOKEN
    networks = settings.MCPADMIN_METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        raise Http404("metrics are not enabled")
    if networks and not _address_allowed(request):
        return JsonResponse({"error": {"code": "forbidden", "message": "Not from an allowed address."}}, status=403)
    if token:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            response = JsonResponse(
                {"error": {"code": "not_authenticated", "message": "A bearer token is needed."}}, status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="mcpadmin-metrics"'
            return response
    return ExportToDjangoView(request)
