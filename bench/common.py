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


def set_audit_triggers(enabled: bool) -> None:
    """Switch the audit triggers of every tracked table on or off (ALTER TABLE ... ENABLE/DISABLE TRIGGER), for
    a phase "without the audit" in the same run. Callers switch them back on in a `finally`."""
    from django.db import connection

    from audit.tracking import TRACKED, TRIGGER_NAME

    verb = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname LIKE %s AND c.relname = ANY(%s)",
            [f"pgtrigger_{TRIGGER_NAME}_%", [spec.table for spec in TRACKED]],
        )
        for table, trigger in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{table}" {verb} TRIGGER "{trigger}"')
