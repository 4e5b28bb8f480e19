"""Rate limits resolved from the tenant's config, exact under concurrency, with headers on every response."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from apikeys.models import RateLimitBucket
from tenants.services import tenant_config_update
from tests import factories

pytestmark = pytest.mark.urls("tests.apikeys.probe_urls")


def clear_of_window_edges(window_seconds: int, margin: float = 5.0) -> None:
    """Waits until the current fixed window has `margin` seconds left, so that a test stays inside one window."""
    left = window_seconds - time.time() % window_seconds
    if left < margin:
        time.sleep(left + 0.05)


@pytest.mark.django_db
def test_defaults_apply_and_every_response_carries_the_headers(tenant):
    clear_of_window_edges(60, margin=3)
    api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    first = api.get("/api/v1/probe/search")
    assert first["RateLimit-Limit"] == "60"
    assert first["RateLimit-Remaining"] == "59"
    assert 1 <= int(first["RateLimit-Reset"]) <= 60
    assert first["RateLimit-Policy"] == '"minute";q=60;w=60, "hour";q=1000;w=3600, "day";q=10000;w=86400'
    assert first["RateLimit"].startswith('"minute";r=59;t=')
    refused = api.post("/api/v1/probe/search")  # a 403 is still an authenticated call: it counts
    assert refused.status_code == 403
    assert refused["RateLimit-Remaining"] == "58"


@pytest.mark.django_db
def test_the_limit_is_enforced_with_429_retry_after_and_refused_calls_do_not_count(tenant):
    clear_of_window_edges(60, margin=5)
    tenant_config_update(tenant=tenant, rate_limit_config={"default_requests_per_minute": 3})
    issued = factories.issued_key(tenant, "service")
    api = factories.client_for(issued.raw_key)
    assert [api.get("/api/v1/probe/tasks").status_code for _ in range(5)] == [200, 200, 200, 429, 429]
    refused = api.get("/api/v1/probe/tasks")
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Remaining"] == "0"
    bucket = RateLimitBucket.objects.get(bucket=f"key:{issued.key.id}")
    assert (bucket.minute_hits, bucket.hour_hits, bucket.day_hits) == (3, 3, 3)


@pytest.mark.django_db
def test_key_type_overrides_and_per_key_buckets(tenant):
    clear_of_window_edges(60, margin=5)
    tenant_config_update(
        tenant=tenant,
        rate_limit_config={
            "default_requests_per_minute": 2,
            "key_type_overrides": {"agent": {"requests_per_minute": 4}},
        },
    )
    agent_api = factories.client_for(factories.issued_key(tenant, "agent").raw_key)
    user_api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    other_user_api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    assert [agent_api.get("/api/v1/probe/search").status_code for _ in range(5)] == [200] * 4 + [429]
    assert [user_api.get("/api/v1/probe/search").status_code for _ in range(3)] == [200, 200, 429]
    assert other_user_api.get("/api/v1/probe/search").status_code == 200, "limits are per key"


@pytest.mark.django_db
def test_the_hour_window_binds_when_tighter(tenant):
    clear_of_window_edges(3600, margin=5)
    tenant_config_update(tenant=tenant, rate_limit_config={"default_requests_per_hour": 2})
    api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    responses = [api.get("/api/v1/probe/search") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[1]["RateLimit-Limit"] == "2"
    assert responses[1]["RateLimit-Remaining"] == "0"
    seconds_left_in_hour = 3600 - time.time() % 3600
    assert abs(int(responses[2]["Retry-After"]) - seconds_left_in_hour) <= 2, "until the hour window ends"


@pytest.mark.django_db
def test_an_endpoint_override_allows_a_burst_then_paces(tenant):
    tenant_config_update(
        tenant=tenant, rate_limit_config={"endpoint_overrides": {"search": {"requests_per_minute": 6, "burst_size": 3}}}
    )
    api = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    statuses = [api.get("/api/v1/probe/search").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get("/api/v1/probe/search")
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert api.get("/api/v1/probe/tasks").status_code == 200, "the override covers its service only"


@pytest.mark.django_db(transaction=True)
def test_accepted_calls_never_exceed_the_limit_under_concurrency():
    """8 threads, each with its own database connection, make 80 calls against a limit of 25."""
    clear_of_window_edges(3600, margin=20)
    tenant = factories.service_tenant()
    tenant_config_update(
        tenant=tenant,
        rate_limit_config={"default_requests_per_minute": 10_000, "default_requests_per_hour": 25},
    )
    raw_key = factories.issued_key(tenant, "service").raw_key
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        api = factories.client_for(raw_key)
        barrier.wait()
        try:
            for _ in range(10):
                status = api.get("/api/v1/probe/tasks").status_code
                with lock:
                    statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 80
    assert statuses.count(200) == 25
    assert statuses.count(429) == 55


@pytest.mark.django_db
def test_purge_removes_only_stale_buckets(tenant):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    RateLimitBucket.objects.create(bucket="stale", updated_at=timezone.now() - timedelta(days=3))
    RateLimitBucket.objects.create(bucket="fresh")
    call_command("purge_rate_limits", stdout=__import__("io").StringIO())
    assert list(RateLimitBucket.objects.values_list("bucket", flat=True)) == ["fresh"]
