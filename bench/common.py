"""Helpers shared by the benchmarks: Django set-up and percentile reporting."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")
    import django

    django.setup()
    require_migrated()


def require_migrated() -> None:
    """Benchmarks run on the configured database as it is: refuse one with unapplied migrations."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        raise SystemExit(f"the database has {len(pending)} unapplied migration(s) ({names}, ...): run `make migrate`")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values_ms: list[float]) -> str:
    return (
        f"p50 {percentile(values_ms, 0.50):7.3f} ms  p95 {percentile(values_ms, 0.95):7.3f} ms  "
        f"p99 {percentile(values_ms, 0.99):7.3f} ms  mean {statistics.fmean(values_ms):7.3f} ms"
    )
