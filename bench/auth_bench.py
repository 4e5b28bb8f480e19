"""Per-request cost of API-key authentication + rate limiting (+ policy + audit, for writes), against bare views.

Reads: two views with the same body ({"ok": true}) go through the whole Django
and DRF stack in this process (WSGI handler, middleware, DRF): one needs no key,
the other authenticates a key (one indexed lookup with its tenant and config)
and takes one unit from its rate-limit windows (one upsert). The requests
alternate, so that drift affects both alike; the difference of the medians is
what authentication + rate limiting add.

Writes: two views make the same audited write (one UPDATE of an agent's
description, a change each time). The bare one is a plain Django view behind
the project's middleware without the audit middleware; the other is an API
view: audit context (request id, client address, the key), key, rate limit,
the service policy. Rounds alternate with the audit triggers off and on
(ALTER TABLE ... DISABLE TRIGGER between rounds); within a round the two views
alternate. "Added per write request" is the API view with the audit on against
the bare view with it off.

    .venv/bin/python bench/auth_bench.py [--requests 3000]

It uses the configured database (the embedded one by default) and removes
the tenant it creates.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from contextlib import nullcontext

from common import percentile, set_audit_triggers, setup_django, summary

setup_django()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from mcpadmin.api.views import PlatformAPIView  # noqa: E402


class Public(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class Authenticated(PlatformAPIView):
    service = "search"

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


_UPDATE_SQL = "UPDATE agents SET description = %s WHERE id = %s"


def write(request: HttpRequest) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_SQL, [request.GET["v"], request.GET["agent"]])


def bare_write(request: HttpRequest) -> JsonResponse:
    write(request)
    return JsonResponse({"ok": True})


class AuthenticatedWrite(PlatformAPIView):
    service = "agents"

    def post(self, request: Request) -> Response:
        write(request._request)
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/public", Public.as_view()),
    path("api/v1/authenticated", Authenticated.as_view()),
    path("api/v1/bare-write", bare_write),
    path("api/v1/authenticated-write", AuthenticatedWrite.as_view()),
]
AUDIT_MIDDLEWARE = "audit.middleware.AuditContextMiddleware"


def count_queries(client: Client, url: str) -> int:
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        client.get(url)
    return len(statements)


def measure_components(raw_key: str, calls: int = 2000) -> dict[str, list[float]]:
    """The two database statements of an authenticated call, timed alone (prepared, as in production)."""
    from apikeys import keys, ratelimit
    from apikeys.selectors import apikey_with_tenant
    from tenants.config import Limits

    public_id = keys.parse(raw_key).public_id
    key = apikey_with_tenant(key_prefix=public_id)
    limits = Limits(10_000_000, 10_000_000, 10_000_000)
    timings: dict[str, list[float]] = {"key lookup (key + tenant + config)": [], "rate-limit upsert": []}
    for _ in range(calls):
        started = time.perf_counter_ns()
        apikey_with_tenant(key_prefix=public_id)
        middle = time.perf_counter_ns()
        ratelimit.take_windows(f"key:{key.id}", limits)
        timings["key lookup (key + tenant + config)"].append((middle - started) / 1e6)
        timings["rate-limit upsert"].append((time.perf_counter_ns() - middle) / 1e6)
    return timings


def measure_writes(raw_key: str, agent_id: str, requests: int, rounds: int) -> dict[str, list[float]]:
    """p50 material of the write comparison: {"bare, audit off": [...], ...} (see the module's docstring)."""
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != AUDIT_MIDDLEWARE]):
        bare = Client(HTTP_HOST="localhost")
        assert bare.post(f"/api/v1/bare-write?agent={agent_id}&v=warm").status_code == 200  # loads its middleware
    full = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_HOST="localhost")
    timings: dict[str, list[float]] = {}
    sequence = 0
    try:
        for round_number in range(2 * rounds + 2):  # two warm-up rounds, then off/on alternately
            audited = round_number % 2 == 1
            set_audit_triggers(audited)
            state = "on" if audited else "off"
            for _ in range(requests if round_number >= 2 else 200):
                for name, client in (("bare", bare), ("API", full)):
                    sequence += 1
                    url = f"/api/v1/{'bare' if name == 'bare' else 'authenticated'}-write?agent={agent_id}&v={sequence}"
                    started = time.perf_counter_ns()
                    response = client.post(url)
                    elapsed = (time.perf_counter_ns() - started) / 1e6
                    assert response.status_code == 200, response.content
                    if round_number >= 2:
                        timings.setdefault(f"{name} write, audit {state}", []).append(elapsed)
    finally:
        set_audit_triggers(True)
    return timings


def measure_audit_statements(agent_id: str, statements: int = 500, rounds: int = 4) -> dict[str, list[float]]:
    """The audit's own cost per written row, without HTTP or commit noise: the same UPDATE, timed statement by
    statement inside a transaction that is rolled back, with the trigger off and on, with and without an audit
    context (pghistory's `set_config` prefix on each statement)."""
    from django.db import transaction

    from audit.context import audit_context

    timings: dict[str, list[float]] = {}
    try:
        for round_number in range(2 * rounds):
            audited = round_number % 2 == 1
            set_audit_triggers(audited)
            for with_context in (False, True):
                name = f"UPDATE, trigger {'on' if audited else 'off'}, {'with' if with_context else 'no'} context"
                context = (
                    audit_context(source="api", key_id=agent_id, request_id="bench", client_ip="127.0.0.1")
                    if with_context
                    else nullcontext()
                )
                with transaction.atomic(), context, connection.cursor() as cursor:
                    for sequence in range(statements):
                        started = time.perf_counter_ns()
                        cursor.execute(_UPDATE_SQL, [f"{round_number}-{sequence}", agent_id])
                        timings.setdefault(name, []).append((time.perf_counter_ns() - started) / 1e6)
                    transaction.set_rollback(True)
    finally:
        set_audit_triggers(True)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from tenants.services import tenant_create
    from tests.factories import agent, issued_key, unique

    limits = ("default_requests_per_minute", "default_requests_per_hour", "default_requests_per_day")
    tenant = tenant_create(name=unique("bench-auth"), rate_limit_config=dict.fromkeys(limits, 10_000_000))
    raw_key = issued_key(tenant, "service").raw_key
    agent_id = str(agent(tenant).pk)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_HOST="localhost")
    try:
        with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["localhost"]):
            for url in ("/api/v1/public", "/api/v1/authenticated"):
                for _ in range(200):  # warm-up: connections, caches, code paths
                    assert client.get(url).status_code == 200
            public_queries, auth_queries = (
                count_queries(client, "/api/v1/public"),
                count_queries(client, "/api/v1/authenticated"),
            )
            public_ms, auth_ms, added_by_round = [], [], []
            gc.disable()
            for _ in range(args.rounds):
                round_public, round_auth = [], []
                for _ in range(args.requests):
                    for url, bucket in (("/api/v1/public", round_public), ("/api/v1/authenticated", round_auth)):
                        started = time.perf_counter_ns()
                        response = client.get(url)
                        bucket.append((time.perf_counter_ns() - started) / 1e6)
                        assert response.status_code == 200, response.content
                added_by_round.append(percentile(round_auth, 0.5) - percentile(round_public, 0.5))
                public_ms += round_public
                auth_ms += round_auth
            gc.enable()
            components = measure_components(raw_key)
            gc.disable()
            writes = measure_writes(raw_key, agent_id, args.requests // 2, args.rounds)
            statements = measure_audit_statements(agent_id)
            gc.enable()
    finally:
        tenant.delete()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_events WHERE tenant_id = %s", [tenant.id])  # they outlive the tenant

    added_p50 = percentile(auth_ms, 0.5) - percentile(public_ms, 0.5)
    added_p95 = percentile(auth_ms, 0.95) - percentile(public_ms, 0.95)
    print(f"database: {connection.settings_dict.get('EMBEDDED_PGDATA') or connection.settings_dict.get('HOST')}")
    print(f"requests per endpoint: {args.requests} (alternating), in-process through the full Django/DRF stack")
    print(f"unauthenticated          {summary(public_ms)}  ({public_queries} queries/request)")
    print(f"API key + rate limit     {summary(auth_ms)}  ({auth_queries} queries/request)")
    print(f"added by auth + rate limiting: p50 {added_p50:.3f} ms, p95 {added_p95:.3f} ms (target: < 1 ms)")
    rounds = ", ".join(f"{value:.3f}" for value in added_by_round)
    print(f"added at p50, per round of {args.requests}: {rounds} (median {statistics.median(added_by_round):.3f} ms)")
    for name, values in components.items():
        print(f"  {name:34s} {summary(values)}")

    print(f"writes: {args.rounds} rounds of {args.requests // 2} per view with the audit triggers off, as many on")
    for name, values in writes.items():
        print(f"{name:24s} {summary(values)}")
    p50 = {name: percentile(values, 0.5) for name, values in writes.items()}
    p95 = {name: percentile(values, 0.95) for name, values in writes.items()}
    total = p50["API write, audit on"] - p50["bare write, audit off"]
    print(
        f"added per write request by auth + rate limit + policy + audit: p50 {total:.3f} ms, "
        f"p95 {p95['API write, audit on'] - p95['bare write, audit off']:.3f} ms (target: <= 1.5 ms at p50)"
    )
    print("the audit's own cost per written row (one UPDATE, in a transaction rolled back, no commit):")
    for name, values in statements.items():
        print(f"  {name:40s} {summary(values)}")
    row = {name: percentile(values, 0.5) for name, values in statements.items()}
    print(
        f"  trigger: {row['UPDATE, trigger on, with context'] - row['UPDATE, trigger off, with context']:.3f} ms "
        f"per row at p50; context prefix: "
        f"{row['UPDATE, trigger off, with context'] - row['UPDATE, trigger off, no context']:.3f} ms per statement"
    )
    trigger_api = p50["API write, audit on"] - p50["API write, audit off"]
    trigger_bare = p50["bare write, audit on"] - p50["bare write, audit off"]
    print(
        f"  of which the audit trigger (API write, on - off): p50 {trigger_api:.3f} ms; "
        f"the trigger on a write without context (bare, on - off): {trigger_bare:.3f} ms"
    )


if __name__ == "__main__":
    main()
