"""CORS for the API, from each tenant's `allowed_origins`.

- An API response gets CORS headers only when the request's `Origin` is
  listed (exactly) in the calling key's tenant's `allowed_origins`, or the
  tenant lists `"*"` (then the answer is `*`; keys travel in headers, never
  in cookies, so no credentials are involved). Unknown origins are never
  reflected, and every API response varies on `Origin`.
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no
  key, so its tenant is unknown: it is allowed when some active tenant lists
  the origin (or `"*"`). That only lets the browser send the real request;
  whether the browser may read the answer is decided by the key's tenant as
  above.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse

API_PREFIX = "/api/"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, X-API-Key, Content-Type, Idempotency-Key"
EXPOSED_HEADERS = (
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, RateLimit, Retry-After, "
    "Idempotent-Replayed, Location"
)
PREFLIGHT_MAX_AGE = "600"

_ANY_TENANT_ALLOWS_SQL = """
SELECT EXISTS (
    SELECT 1 FROM tenant_config c JOIN tenants t ON t.id = c.tenant_id
     WHERE t.is_active AND (c.allowed_origins @> ARRAY[%s]::text[] OR c.allowed_origins @> ARRAY['*']::text[])
)
"""


def origin_allowed_by_any_tenant(origin: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_ANY_TENANT_ALLOWS_SQL, [origin])
        return bool(cursor.fetchone()[0])


def allowed_origin_for(origins: list[str] | None, origin: str) -> str | None:
    """The value of Access-Control-Allow-Origin for `origin`, or None."""
    origins = origins or []
    if origin in origins:
        return origin
    if "*" in origins:
        return "*"
    return None


class CorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        origin = request.headers.get("Origin")
        if origin and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return self._preflight(origin)
        response = self.get_response(request)
        response.setdefault("Vary", "Origin")
        if "Origin" not in response["Vary"]:
            response["Vary"] = f"{response['Vary']}, Origin"
        if origin:
            key = getattr(request, "auth", None)
            config = getattr(getattr(key, "tenant", None), "config", None) if key is not None else None
            allow = allowed_origin_for(config.allowed_origins if config else None, origin)
            if allow:
                response["Access-Control-Allow-Origin"] = allow
                response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response

    def _preflight(self, origin: str) -> HttpResponse:
        response = HttpResponse(status=204)
        response["Vary"] = "Origin"
        if origin_allowed_by_any_tenant(origin):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response
