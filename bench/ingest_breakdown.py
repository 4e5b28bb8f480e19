"""Where one writer's ingest time goes, against the bare HNSW insert of the same vectors into a graph of the same size.

    .venv/bin/python bench/ingest_breakdown.py      # needs the corpus of bench/search_bench.py (run it first)

Batches of 500 new documents into one tenant's `bench` collection (its collection graph in place), through the
ingest service: committed (removed afterwards), then each in a transaction that is rolled back, with every index
and with groups of indexes dropped inside the transaction (what each costs). The anchor: the same vectors as the
committed runs into a bare table (id, vector(384)) of as many rows as the collection, with the graphs' HNSW index,
committed per batch. Prints milliseconds per document (median of the batches).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("MCPADMIN_DB_NAME", "mcpadmin_bench")
os.environ.setdefault("MCPADMIN_PG_CLEANUP", "keep")

from common import setup_django

setup_django()

import search_bench as sb  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from search_corpus import Corpus  # noqa: E402

from search.filters import DocumentFilters  # noqa: E402
from search.selectors import collection_named, model_in_collection  # noqa: E402
from search.services import documents_delete, documents_ingest  # noqa: E402

BATCHES = 6
#: Rolled-back runs of each variant (each leaves 500 dead entries in the graph until the end).
ROLLED_BACK_ROUNDS = 3
SECONDARY = {
    "GIN of content_tsvector (the spec's idx_embeddings_fts)": ["idx_embeddings_fts"],
    "GIN of metadata": ["idx_embeddings_metadata"],
    "B-trees (agent, task type, tenant+collection, content hash)": [
        "idx_embeddings_agent_id", "idx_embeddings_task_type", "idx_embeddings_tenant_coll",
        "idx_embeddings_content_hash",
    ],
}  # fmt: skip


def per_document(run: Callable[[list], None], batches: list[list]) -> float:
    timings = []
    for batch in batches:
        started = time.perf_counter()
        run(batch)
        timings.append((time.perf_counter() - started) * 1000 / len(batch))
    return statistics.median(timings)


def main() -> None:
    (tenant,) = sb.bench_tenants(1)
    collection = collection_named(tenant, sb.COLLECTION)
    graph = model_in_collection(collection, sb.MODEL).graph
    if graph is None:
        raise SystemExit("no collection graph: run bench/search_bench.py first (it loads the corpus)")
    corpus = Corpus()

    def batch(number: int) -> list:
        """Batch `number` of new documents: each variant gets its own, so that no run meets the dead rows of
        another's rolled-back insert of the same keys."""
        return [sb.document_input(corpus, 40_000_000 + number * sb.BATCH + i, extra=True) for i in range(sb.BATCH)]

    numbers = iter(range(10_000))
    fresh = [batch(next(numbers)) for _ in range(BATCHES)]
    # A rolled-back insert leaves its entries in the HNSW graph until VACUUM, and later inserts walk through them:
    # the committed runs come first, on a graph rebuilt clean, and the graph is rebuilt again at the end.
    sb.sql(f"REINDEX INDEX {graph.name}")
    print(f"{sb.load()}; {BATCHES} batches of {sb.BATCH}, ms per document (median of the batches)")
    rows: dict[str, float] = {}

    def committed(documents: list) -> None:
        documents_ingest(actor=sb.BENCH, tenant=tenant, collection=sb.COLLECTION, documents=documents)

    rows["ingest, committed (commit, WAL flush, statistics fold)"] = per_document(committed, fresh)
    documents_delete(actor=sb.BENCH, collection=collection, filters=DocumentFilters(metadata={sb.EXTRA: True}))
    sb.bare_table(sb.BARE_TABLE, tenant)

    def bare(documents: list) -> None:
        with transaction.atomic():
            sb.sql(
                f"INSERT INTO {sb.BARE_TABLE} (embedding) SELECT unnest(%s::vector(384)[])",
                [[str(document.embedding) for document in documents]],
            )

    rows["anchor: bare HNSW insert, graph of the collection's size, committed"] = per_document(bare, fresh)
    sb.sql(f"DROP TABLE {sb.BARE_TABLE}")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM mcp.embeddings")
    sb.sql(f"REINDEX INDEX {graph.name}")

    def rolled_back(dropped: list[str]) -> Callable[[list], None]:
        def run(documents: list) -> None:
            with transaction.atomic():
                for index in dropped:
                    sb.sql(f"DROP INDEX {index}")
                documents_ingest(actor=sb.BENCH, tenant=tenant, collection=sb.COLLECTION, documents=documents)
                transaction.set_rollback(True)

        return run

    everything = [graph.name, *(index for indexes in SECONDARY.values() for index in indexes)]
    variants = {
        "ingest, every index (rolled back)": [],
        "  without its collection graph": [graph.name],
        **{f"  without the {name}": indexes for name, indexes in SECONDARY.items()},
        "  without any of those (table, TOAST, postings, statistics)": everything,
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROLLED_BACK_ROUNDS):  # interleaved: every variant in turn (the machine's load is shared)
        for name, dropped in variants.items():
            timings[name].append(per_document(rolled_back(dropped), [batch(next(numbers))]))
    rows |= {name: statistics.median(values) for name, values in timings.items()}
    with connection.cursor() as cursor:
        cursor.execute("VACUUM mcp.embeddings")
    sb.sql(f"REINDEX INDEX {graph.name}")
    for name, value in rows.items():
        print(f"  {name:72s} {value:6.2f} ms")
    anchor = rows["anchor: bare HNSW insert, graph of the collection's size, committed"]
    ingest = rows["ingest, committed (commit, WAL flush, statistics fold)"]
    print(f"  ingest committed / anchor: {ingest / anchor:.2f}x the time (rate ratio {anchor / ingest:.2f})")


if __name__ == "__main__":
    main()
