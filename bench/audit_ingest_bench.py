"""What the audit trail adds to a bulk ingest of large documents: batches with the triggers off and on.

Each document is ~5 KB of text with a 1536-dimension embedding; the audit keeps one small row per document
(its identity, content hash and changed column names, never the text or the vector). Batches go through
`search.services.documents_ingest` (the API's service), alternating the audit triggers off and on
(ALTER TABLE ... DISABLE TRIGGER between batches).

    .venv/bin/python bench/audit_ingest_bench.py [--batch 100] [--rounds 4]

It uses the configured database and removes the tenant (and its audit events) it created.
"""

from __future__ import annotations

import argparse
import random
import time

from common import percentile, set_audit_triggers, setup_django

setup_django()

from django.db import connection  # noqa: E402

WORDS = [
    "agent",
    "task",
    "workflow",
    "search",
    "vector",
    "tenant",
    "audit",
    "trigger",
    "document",
    "collection",
    "index",
    "ranking",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from mcpadmin.core.actor import Actor
    from search.services import DocumentInput, documents_ingest
    from tenants.services import tenant_create
    from tests.factories import unique

    rng = random.Random(13)
    tenant = tenant_create(name=unique("bench-audit-ingest"))
    actor = Actor.for_command("audit_ingest_bench")
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for round_number in range(2 * args.rounds + 2):  # two warm-up batches
            state = "on" if round_number % 2 else "off"
            set_audit_triggers(state == "on")
            documents = [
                DocumentInput(
                    content=" ".join(rng.choice(WORDS) for _ in range(700)),
                    model="bench-1536",
                    external_id=f"{round_number}-{index}",
                    embedding=[rng.uniform(-1, 1) for _ in range(1536)],
                )
                for index in range(args.batch)
            ]
            started = time.perf_counter()
            documents_ingest(actor=actor, tenant=tenant, collection="bench", documents=documents)
            if round_number >= 2:
                seconds[state].append(time.perf_counter() - started)
    finally:
        set_audit_triggers(True)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), avg(pg_column_size(e.*)) FROM audit_events e WHERE tenant_id = %s", [tenant.id]
            )
            events, event_bytes = cursor.fetchone()
            cursor.execute("DELETE FROM tenants WHERE id = %s", [tenant.id])
            cursor.execute("DELETE FROM audit_events WHERE tenant_id = %s", [tenant.id])

    off, on = (percentile(seconds[state], 0.5) * 1000 for state in ("off", "on"))
    print(f"batches of {args.batch} documents (~5 KB text, 1536-d vector), {args.rounds} per state, median:")
    print(f"audit off {off:8.1f} ms   audit on {on:8.1f} ms   added {on - off:+.1f} ms ({on / off:.2f}x), "
          f"{(on - off) / args.batch:+.3f} ms per document")  # fmt: skip
    print(f"audit rows written: {events}, {float(event_bytes or 0):.0f} bytes each on average")


if __name__ == "__main__":
    main()
