"""What the request id, the JSON request line and the metrics cost per request.

Same process, Django's test client on `GET /api/v1/health` (no database work), rounds alternating between the
project's MIDDLEWARE and the same list without the four observability entries (django-prometheus before/after,
mcpadmin's RequestIdMiddleware, django-structlog's RequestMiddleware); the log goes to a JSON formatter writing
to memory, as to a file.

    .venv/bin/python bench/observability_bench.py [--requests 2000] [--rounds 6]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")
os.environ["MCPADMIN_LOG_FORMAT"] = "json"
django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

OBSERVABILITY = {
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "mcpadmin.api.observability.RequestIdMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
}


def timings(requests: int) -> list[float]:
    client = Client()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get("/api/v1/health")
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    sink = logging.StreamHandler(io.StringIO())
    sink.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().handlers = [sink]
    bare = [entry for entry in settings.MIDDLEWARE if entry not in OBSERVABILITY]
    results: dict[str, list[float]] = {"with": [], "without": []}
    timings(200)  # warm up
    for _ in range(args.rounds):
        results["with"] += timings(args.requests)
        with override_settings(MIDDLEWARE=bare):
            results["without"] += timings(args.requests)
    load = os.getloadavg()[0]
    p50 = {name: statistics.median(values) for name, values in results.items()}
    p95 = {name: statistics.quantiles(values, n=20)[18] for name, values in results.items()}
    for name in ("without", "with"):
        print(f"{name:8s} observability: p50 {p50[name]:7.1f} us  p95 {p95[name]:7.1f} us")
    print(
        f"cost per request: p50 +{p50['with'] - p50['without']:.1f} us, p95 +{p95['with'] - p95['without']:.1f} us "
        f"(ratio {p50['with'] / p50['without']:.2f}); {args.rounds} x {args.requests} requests each, load {load:.2f}"
    )


if __name__ == "__main__":
    main()
