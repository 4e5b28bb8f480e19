"""How long the admin's overview (the admin index) takes to render with a large platform behind it.

Fills one tenant (of `--tenants`) with `--tasks` tasks (default 100,000) spread over the last 7 days in every
status, their escalations and delegations, agents, keys, rate-limit refusals and workflow executions, with one
INSERT … SELECT generate_series per table (not through the services: this measures reads), then VACUUM ANALYZE. Then it
renders, through Django's test client with an operator logged in (middleware, admin, templates: everything but
the socket), alternating round by round:

- the overview across all tenants (`/admin/`),
- the overview of the big tenant (`/admin/?tenant=<id>`),
- the anchor: the admin's tenant list, a page of the same theme with two rows behind it.

    .venv/bin/python bench/dashboard_bench.py [--tasks 100000] [--rounds 60]

On the configured database (the embedded one by default); it deletes what it created (one DELETE of the
tenants: the foreign keys cascade in the database). Target: p95 of the overview < 200 ms.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import timedelta

from common import percentile, setup_django, summary

setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"
FILL_SQL = [
    # Agents: a third online, some disabled.
    """
    INSERT INTO agents (id, tenant_id, name, description, capabilities, teams, status, metadata, last_seen_at,
                        created_at, updated_at)
    SELECT gen_random_uuid(), %(tenant)s, 'bench-agent-' || i, '', '{}', '{}',
           CASE WHEN i %% 10 = 0 THEN 'disabled' ELSE 'active' END, '{}',
           CASE WHEN i %% 3 = 0 THEN now() ELSE now() - interval '1 hour' END, now(), now()
      FROM generate_series(1, %(agents)s) AS i
    """,
    # Tasks over the last 7 days; ended ones have completed_at after their creation.
    """
    INSERT INTO tasks (id, tenant_id, title, description, status, priority, input_data, metadata, retry_count,
                       max_retries, delegation_count, auto_escalate, created_at, updated_at, status_changed_at,
                       completed_at)
    SELECT gen_random_uuid(), %(tenant)s, 'bench task ' || i, '',
           (ARRAY['pending','assigned','in_progress','completed','completed','completed','failed','cancelled'])
               [1 + i %% 8]::task_status,
           (ARRAY['low','medium','high','critical'])[1 + i %% 4]::task_priority,
           '{}', '{}', 0, 3, 0, false, created, created, created,
           CASE WHEN i %% 8 IN (3, 4, 5, 6, 7) THEN created + interval '20 minutes' END
      FROM generate_series(1, %(tasks)s) AS i,
           LATERAL (SELECT now() - (i::float8 / %(tasks)s) * interval '7 days' AS created) AS t
    """,
    # An escalation row for one task in 50, a delegation for one in 40.
    """
    INSERT INTO task_state_transitions (id, task_id, from_status, to_status, reason, metadata, created_at)
    SELECT gen_random_uuid(), id, status, status, 'bench', '{"event": "escalation"}', created_at + interval '5 minutes'
      FROM tasks WHERE tenant_id = %(tenant)s AND hashtext(id::text) %% 50 = 0
    """,
    """
    INSERT INTO task_delegation_history (id, task_id, to_agent_id, delegation_type, reason, metadata, created_at)
    SELECT gen_random_uuid(), t.id, (SELECT id FROM agents WHERE tenant_id = %(tenant)s LIMIT 1), 'consultation',
           'bench', '{}', t.created_at + interval '5 minutes'
      FROM tasks t WHERE t.tenant_id = %(tenant)s AND hashtext(t.id::text) %% 40 = 0
    """,
    """
    INSERT INTO rate_limit_refusals (tenant_id, key_type, minute_start, refusals)
    SELECT %(tenant)s, 'admin', date_trunc('minute', now()) - i * interval '1 minute', 1 + i %% 5
      FROM generate_series(0, 2879) AS i
    """,
]


def fill(tenant_id: uuid.UUID, *, tasks: int, agents: int, executions: int) -> None:
    from tenants.models import Tenant
    from tests import factories
    from workflows.models import WorkflowExecution

    with connection.cursor() as cursor:
        for statement in FILL_SQL:
            cursor.execute(statement, {"tenant": tenant_id, "tasks": tasks, "agents": agents})
    tenant = Tenant.objects.get(pk=tenant_id)
    flow = factories.workflow(tenant)
    statuses = ["running", "completed", "failed", "cancelled"]
    WorkflowExecution.objects.bulk_create(
        WorkflowExecution(tenant=tenant, workflow=flow, status=statuses[i % 4]) for i in range(executions)
    )
    for days in (1, 3, 10):
        factories.api_key_row(tenant, key_type="admin", expires_at=timezone.now() + timedelta(days=days))
    with connection.cursor() as cursor:
        for table in ("tasks", "task_state_transitions", "task_delegation_history", "agents", "rate_limit_refusals",
                      "workflow_executions"):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")  # the steady state autovacuum keeps: index-only scans


def timed(client: Client, url: str) -> tuple[float, float, int]:
    """Milliseconds for the whole request, milliseconds of it spent in SQL statements, and their number."""
    in_sql: list[float] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            in_sql.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with connection.execute_wrapper(record):
        response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code}")
    return elapsed, sum(in_sql), len(in_sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--executions", type=int, default=2_000)
    parser.add_argument("--tenants", type=int, default=3, help="tenants in all (the others get a few rows)")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()

    from tests import factories

    big = factories.tenant(name=factories.unique("bench-dashboard"))
    small = [factories.tenant(name=factories.unique("bench-dashboard-small")) for _ in range(args.tenants - 1)]
    operator = User.objects.create_superuser(factories.unique("bench-operator"), password=None)
    try:
        started = time.perf_counter()
        fill(big.pk, tasks=args.tasks, agents=args.agents, executions=args.executions)
        for tenant in small:
            fill(tenant.pk, tasks=100, agents=5, executions=5)
        print(f"filled {args.tasks:,} tasks (+{100 * len(small)}) in {time.perf_counter() - started:.1f} s")

        # Static URLs without `collectstatic`'s manifest (as the tests do); whitenoise serves nothing here.
        settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_STORAGE}}
        client = Client(HTTP_HOST="localhost")
        client.force_login(operator)
        pages = {
            "overview, all tenants": reverse("admin:index"),
            "overview, big tenant": f"{reverse('admin:index')}?tenant={big.pk}",
            "anchor: tenant list": reverse("admin:tenants_tenant_changelist"),
        }
        for url in pages.values():  # warm up: templates compiled, connections open, statements planned
            for _ in range(3):
                timed(client, url)
        samples: dict[str, list[float]] = {name: [] for name in pages}
        sql: dict[str, list[float]] = {name: [] for name in pages}
        statements: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, url in pages.items():
                total, in_sql, statements[name] = timed(client, url)
                samples[name].append(total)
                sql[name].append(in_sql)

        load = os.getloadavg()[0]
        print(f"{args.rounds} rounds, load average {load:.2f} on {os.cpu_count()} cores")
        anchor = percentile(samples["anchor: tenant list"], 0.5)
        for name, values in samples.items():
            print(
                f"{name:24s} {summary(values)}  p50/anchor {percentile(values, 0.5) / anchor:5.2f}  "
                f"SQL p50 {percentile(sql[name], 0.5):6.1f} ms in {statements[name]} statements"
            )
        worst = max(percentile(samples[name], 0.95) for name in pages if name.startswith("overview"))
        print(f"overview p95 {worst:.1f} ms: {'within' if worst < 200 else 'OVER'} the 200 ms target")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM tenants WHERE id = ANY(%s)", [[big.pk, *(t.pk for t in small)]])
        operator.delete()


if __name__ == "__main__":
    main()
