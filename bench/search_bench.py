"""Search latency and ingest throughput on a synthetic corpus, with pg_textsearch and plain HNSW as anchors.

    .venv/bin/python bench/search_bench.py                  # 100,000 documents, 10 tenants, 200 queries
    .venv/bin/python bench/search_bench.py --docs 10000     # a quick run
    .venv/bin/python bench/search_bench.py --fresh          # drop the benchmark database first

It works in its own database (MCPADMIN_DB_NAME, default `mcpadmin_bench`) of the configured server, so the
development database stays small, and reuses a complete corpus from an earlier run. The corpus (see
search_corpus.py) is `--docs` documents of ~60 tokens with 384-dimension vectors, in a collection named
`bench` of each of `--tenants` tenants (batches of 500 go to the tenants in turn).

Loading: the documents go through the ingest service (statistics maintained) with four writer processes,
without any HNSW index; then each collection's graph is built in one go (search/vector_indexes.py: a collection
of more than 2,000 documents of a model has its own partial HNSW index), timed, as `manage.py
sync_collection_graphs` does after a bulk import. With fewer than 2,000 documents per tenant (`--docs` under
20,001 with 10 tenants) there is no graph: every search compares exactly. Then, with every index in place: the
query benchmarks, and ingest throughput with one writer and with four, in `--ingest-rounds` rounds, with the WAL
each document cost (new documents into the same collections, through their graphs, removed at the end, then
VACUUM so that a later run finds the same graphs).

Anchors, beside the product's tables: pg_textsearch's BM25 index `bench_embeddings_bm25` on `embeddings` (built
for the queries, dropped before the ingest runs: it is no part of ingest), and `bench_plain_hnsw`, a bare table
(id, vector(384)) of every collection's vectors (as many as the shared index of search 0004 held) with the same
HNSW index, walked with no filter ("plain HNSW").

The query measurements are interleaved: query by query, every measurement in turn (after a warm-up pass), so
that an anchor and what is compared with it share the machine's load of the moment. Ratios, all to anchors
measured in the same run (issue 16's targets): BM25 with contents (`search`, mode bm25) p95 to pg_textsearch's
p95 (<= 3x); hybrid with the default fusion p95 to plain HNSW's p95 (<= 4x); ingest rate to the bare HNSW
insert rate (>= 0.8): the very vectors ingested, inserted by 1 and by 4 writers in batches of 500 into a bare table
`bench_bare_hnsw` with the same HNSW index, holding first every collection's vectors (the issue's anchor, as the
shared index of search 0004 held them), then one collection's (as many as the graph an ingest inserts into).
And `manage.py import_documents` on `--import-docs` documents of JSON Lines
into one of the collections, documents/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from typing import Any

os.environ.setdefault("MCPADMIN_DB_NAME", "mcpadmin_bench")
os.environ.setdefault("MCPADMIN_PG_CLEANUP", "keep")  # worker processes come and go; keep the server up

from common import percentile, setup_django
from search_corpus import Corpus

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from mcpadmin.core.actor import Actor  # noqa: E402
from search import vector_indexes  # noqa: E402
from search.filters import DocumentFilters  # noqa: E402
from search.fusion import DEFAULT_FUSION, FUSIONS  # noqa: E402
from search.models import Collection  # noqa: E402
from search.selectors import bm25_search, collection_named, search, vector_search  # noqa: E402
from search.services import DocumentInput, documents_delete, documents_ingest  # noqa: E402
from tenants.models import Tenant  # noqa: E402

COLLECTION = "bench"
MODEL = "synthetic-384"
BATCH = 500
BM25_INDEX = "bench_embeddings_bm25"
#: Marks the documents that the throughput runs add to the collections (removed at the end).
EXTRA = "bench_extra"
BENCH = Actor.for_command("search_bench")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (nproc {os.cpu_count()})"


def sql(query: str, params: Any = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def bench_tenants(count: int) -> list[Tenant]:
    from tenants.services import tenant_create

    found = []
    for i in range(count):
        name = f"bench-tenant-{i:02d}"
        found.append(Tenant.objects.filter(name=name).first() or tenant_create(name=name))
    return found


def document_input(corpus: Corpus, index: int, *, extra: bool = False) -> DocumentInput:
    """Document `index` of the corpus; `extra`: one of the throughput runs' documents, removed at the end."""
    document = corpus.document(index)
    return DocumentInput(
        content=document.content,
        model=MODEL,
        embedding=document.embedding,
        external_id=f"doc-{index}",
        agent_id=f"agent-{index % 50}",
        task_type=("summary", "research", "code", "review")[index % 4],
        metadata=document.metadata | ({EXTRA: True} if extra else {}),
    )


def _load_batches(args: tuple[list[int], list[str], int, str]) -> int:
    """Child process: ingest the given batches of the corpus (each batch to its tenant)."""
    batches, tenant_ids, total, collection = args
    corpus = Corpus()
    written = 0
    for batch in batches:
        tenant = Tenant(id=tenant_ids[batch % len(tenant_ids)])
        indices = range(batch * BATCH, min(total, (batch + 1) * BATCH))
        documents = [document_input(corpus, i) for i in indices]
        documents_ingest(actor=BENCH, tenant=tenant, collection=collection, documents=documents)
        written += len(indices)
    connection.close()
    return written


def bulk_load(total: int, tenants: list[Tenant], writers: int = 4) -> float:
    batches = list(range((total + BATCH - 1) // BATCH))
    shares = [(batches[w::writers], [str(t.id) for t in tenants], total, COLLECTION) for w in range(writers)]
    connections.close_all()  # children open their own
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(writers) as pool:
        written = sum(pool.map(_load_batches, shares))
    assert written == total
    return time.monotonic() - started


def _timed_writer(args: tuple[int, int, list[str], Any, int]) -> tuple[int, float]:
    """Child process: generate its documents first, wait for the others, then ingest and time it.

    Writer w writes into tenant w's collection (as an import does: one collection; and as the bare anchor's writers
    do: one graph); four writers, four collections at once."""
    start, stop, tenant_ids, barrier, offset = args
    corpus = Corpus()
    batches = []
    tenant = Tenant(id=tenant_ids[(start // (stop - start)) % len(tenant_ids)])  # writer w: tenant w's collection
    for batch_start in range(start, stop, BATCH):
        indices = range(batch_start, min(stop, batch_start + BATCH))
        batches.append((tenant, [document_input(corpus, offset + i, extra=True) for i in indices]))
    connection.ensure_connection()
    barrier.wait()
    started = time.monotonic()
    for tenant, documents in batches:
        documents_ingest(actor=BENCH, tenant=tenant, collection=COLLECTION, documents=documents)
    elapsed = time.monotonic() - started
    connection.close()
    return stop - start, elapsed


def ingest_throughput(tenants: list[Tenant], writers: int, per_writer: int, offset: int) -> float:
    """Documents per second of `writers` processes writing `per_writer` documents each, at the same time."""
    context = multiprocessing.get_context("fork")
    barrier = context.Manager().Barrier(writers)
    ids = [str(t.id) for t in tenants]
    shares = [(w * per_writer, (w + 1) * per_writer, ids, barrier, offset) for w in range(writers)]
    connections.close_all()
    with context.Pool(writers) as pool:
        results = pool.map(_timed_writer, shares)
    slowest = max(elapsed for _, elapsed in results)  # all started together: the wall time of the run
    return sum(count for count, _ in results) / slowest


BARE_TABLE = "bench_bare_hnsw"
PLAIN_TABLE = "bench_plain_hnsw"


def bare_table(table: str, tenant: Tenant | None) -> float:
    """A bare table (id, vector(384)) of the collection's vectors (`tenant`'s, or every tenant's) with the HNSW
    index the graphs have (seconds to build it)."""
    sql(f"DROP TABLE IF EXISTS {table}")
    sql(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, embedding vector(384) NOT NULL)")
    sql(
        f"INSERT INTO {table} (embedding) SELECT embedding::vector(384) FROM embeddings "
        "WHERE collection = %s AND (%s::uuid IS NULL OR tenant_id = %s::uuid) ORDER BY id",
        [COLLECTION, tenant and tenant.id, tenant and tenant.id],
    )
    started = time.monotonic()
    sql("SET maintenance_work_mem = '1GB'")  # the build's graph in memory
    sql(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops) {vector_indexes.HNSW_WITH}")
    sql("RESET maintenance_work_mem")
    sql(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


def _bare_writer(args: tuple[int, int, Any, int]) -> tuple[int, float]:
    """Child process: the same new vectors as the ingest runs, inserted into the bare table in batches."""
    start, stop, barrier, offset = args
    corpus = Corpus()
    batches = []
    for batch_start in range(start, stop, BATCH):
        indices = range(batch_start, min(stop, batch_start + BATCH))
        batches.append([str(corpus.document(offset + i).embedding) for i in indices])
    connection.ensure_connection()
    barrier.wait()
    started = time.monotonic()
    for vectors in batches:
        with transaction.atomic():
            sql(f"INSERT INTO {BARE_TABLE} (embedding) SELECT unnest(%s::vector(384)[])", [vectors])
    elapsed = time.monotonic() - started
    connection.close()
    return stop - start, elapsed


def bare_hnsw_throughput(writers: int, per_writer: int, offset: int) -> float:
    context = multiprocessing.get_context("fork")
    barrier = context.Manager().Barrier(writers)
    shares = [(w * per_writer, (w + 1) * per_writer, barrier, offset) for w in range(writers)]
    connections.close_all()
    with context.Pool(writers) as pool:
        results = pool.map(_bare_writer, shares)
    return sum(count for count, _ in results) / max(elapsed for _, elapsed in results)


def bare_hnsw_anchor(args: Any, report: dict[str, Any], tenant: Tenant) -> None:
    """Bare HNSW inserts of the vectors round 1 ingested, and ingest's ratio to them (1 and 4 writers).

    Two anchors: the issue's, a bare per-dimension index of every collection's vectors (as bench/
    vector_index_bench.py and the shared index of search 0004 held them), and the stricter one, a bare graph of as
    many vectors as the graph an ingest inserts into (a collection's).
    """
    for anchor, rows, of in (("all", args.docs, None), ("collection", args.docs // args.tenants, tenant)):
        print(f"anchor: bare HNSW inserts ({BARE_TABLE}: {rows} vectors, the graphs' index); {load()}", flush=True)
        print(f"  built its index in {bare_table(BARE_TABLE, of):.1f} s", flush=True)
        for run, writers in enumerate((1, 4)):  # the very vectors that round 1 wrote with as many writers
            rate = bare_hnsw_throughput(writers, args.ingest_docs // writers, 10_000_000 + run * args.ingest_docs)
            report[f"bare_hnsw_{anchor}_inserts_per_second_{writers}"] = round(rate)
            ingested = report[f"ingest_docs_per_second_{writers}_writer{'s' if writers > 1 else ''}"]
            ratio = max(ingested) / rate
            report[f"ingest_to_bare_hnsw_{anchor}_ratio_{writers}"] = round(ratio, 2)
            print(
                f"  {writers} writer(s): {rate:.0f} rows/s; ingest (best round) / bare: {ratio:.2f} (target >= 0.8)",
                flush=True,
            )
        sql(f"DROP TABLE {BARE_TABLE}")


def import_command_throughput(tenant: Tenant, count: int, offset: int) -> tuple[float, str]:
    """`manage.py import_documents` on `count` new documents written as JSON Lines (documents/s, its summary)."""
    import io
    import tempfile

    corpus = Corpus()
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        for i in range(offset, offset + count):
            document = document_input(corpus, i, extra=True)
            item = {
                "external_id": document.external_id, "content": document.content, "model": document.model,
                "embedding": document.embedding, "agent_id": document.agent_id, "task_type": document.task_type,
                "metadata": document.metadata,
            }  # fmt: skip
            out.write(json.dumps(item) + "\n")
    printed = io.StringIO()
    started = time.monotonic()
    call_command("import_documents", out.name, "--tenant", str(tenant.id), "--collection", COLLECTION, stdout=printed)
    elapsed = time.monotonic() - started
    os.unlink(out.name)
    return count / elapsed, printed.getvalue().strip().splitlines()[-1]


def measure(entries: list[tuple[str, Any]], queries: list[Any], report: list[dict]) -> dict[str, dict]:
    """Every entry on every query, interleaved (query by query, the entries in turn), after a warm-up pass.

    Interleaving puts an anchor and the measurements compared with it under the same load: on a shared
    machine whose load changes by the minute, timing them one after the other made their ratios noise.
    """
    for _, run in entries:  # warm-up: caches, prepared plans, connection
        for query in queries:
            run(query)
    timings: dict[str, list[float]] = {name: [] for name, _ in entries}
    extras: dict[str, list[Any]] = {name: [] for name, _ in entries}
    for query in queries:
        for name, run in entries:
            started = time.perf_counter()
            extra = run(query)
            timings[name].append((time.perf_counter() - started) * 1000)
            extras[name].append(extra)
    rows = {}
    for name, _ in entries:
        row = {
            "name": name,
            "queries": len(queries),
            "p50_ms": round(percentile(timings[name], 0.50), 3),
            "p95_ms": round(percentile(timings[name], 0.95), 3),
            "p99_ms": round(percentile(timings[name], 0.99), 3),
            "mean_ms": round(statistics.fmean(timings[name]), 3),
        }
        if extras[name] and isinstance(extras[name][0], dict):
            for key in extras[name][0]:
                values = [extra[key] for extra in extras[name]]
                row[key] = round(statistics.fmean(values), 4) if isinstance(values[0], (int, float)) else _tally(values)
        report.append(row)
        rows[name] = row
        print(f"  {name:52s} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms"
              + "".join(f"  {k}={row[k]}" for k in row if k not in ("name", "queries", "p50_ms", "p95_ms", "p99_ms",
                                                                      "mean_ms")), flush=True)  # fmt: skip
    return rows


def _tally(values: list[Any]) -> dict:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest-docs", type=int, default=4000, help="documents per throughput run")
    parser.add_argument("--ingest-rounds", type=int, default=2, help="throughput runs of one and of four writers")
    parser.add_argument("--import-docs", type=int, default=4000, help="documents for import_documents (0: skip)")
    parser.add_argument("--fresh", action="store_true", help="drop the benchmark database first")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    database = connection.settings_dict["NAME"]
    report: dict[str, Any] = {"database": database, "load_before": load(), "docs": args.docs}
    print(f"database {database}; {report['load_before']}", flush=True)

    if args.fresh:
        with connection._nodb_cursor() as cursor:
            connection.close()
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
    call_command("migrate", verbosity=0)
    sql("CREATE EXTENSION IF NOT EXISTS pg_textsearch WITH SCHEMA public")
    report["server"] = {
        name: sql(f"SHOW {name}")[0][0] for name in ("server_version", "shared_buffers", "work_mem")
    } | {"pgvector": sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'")[0][0]}
    print(f"server: {report['server']}", flush=True)

    tenants = bench_tenants(args.tenants)
    present = sql("SELECT count(*) FROM embeddings WHERE collection = %s", [COLLECTION])[0][0]
    if present != args.docs:
        print(f"loading {args.docs} documents ({present} present: starting over)", flush=True)
        sql("DELETE FROM embeddings")
        Collection.objects.all().delete()
        sql(f"DROP INDEX IF EXISTS {BM25_INDEX}")
        vector_indexes.collection_graphs_sync(concurrently=False)  # the collections are gone: their graphs too
        sql(f"DROP INDEX IF EXISTS {vector_indexes.PADDED_INDEX}")
        sql(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        seconds = bulk_load(args.docs, tenants)
        report["load_seconds_without_hnsw"] = round(seconds, 1)
        report["load_docs_per_second_4_writers_without_hnsw"] = round(args.docs / seconds)
        print(f"  ingest service, 4 writers, no HNSW index: {seconds:.1f} s ({args.docs / seconds:.0f} documents/s)")
        sql("SET maintenance_work_mem = '1GB'")
        started = time.monotonic()
        sql(vector_indexes.padded_create_sql())  # no rows: every vector has 384 dimensions
        graphs = vector_indexes.collection_graphs_sync(concurrently=False)  # one per tenant's collection
        report["graphs_build_seconds"] = round(time.monotonic() - started, 1)
        sql("RESET maintenance_work_mem")
        sql("VACUUM ANALYZE mcp.embeddings")
        sql("VACUUM ANALYZE mcp.search_term_stats")
        print(f"  {len(graphs.built)} collection graphs built in {report['graphs_build_seconds']} s", flush=True)
    started = time.monotonic()
    synced = vector_indexes.collection_graphs_sync()  # a corpus of an earlier run: graphs it lacks (search 0007)
    if synced:
        print(f"  graphs built {synced.built}, dropped {synced.dropped} in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    bm25 = "USING bm25 (content) WITH (text_config = 'english')"
    sql(f"CREATE INDEX IF NOT EXISTS {BM25_INDEX} ON mcp.embeddings {bm25}")
    if sql(f"SELECT to_regclass('{PLAIN_TABLE}') IS NULL")[0][0]:
        seconds = bare_table(PLAIN_TABLE, None)
        print(f"  plain HNSW anchor ({PLAIN_TABLE}, every collection's vectors): index built in {seconds:.1f} s")
    print(f"  anchors ready in {time.monotonic() - started:.1f} s", flush=True)
    report["sizes"] = dict(
        sql(
            """
            SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class
             WHERE relname IN ('embeddings', 'idx_embeddings_fts', 'search_term_stats', 'search_postings', %s, %s)
                OR relname LIKE 'idx\\_embeddings\\_graph\\_%%'
            """,
            [BM25_INDEX, PLAIN_TABLE],
        )
    )
    print(f"  sizes: {report['sizes']}", flush=True)

    corpus = Corpus()
    queries = corpus.queries(args.queries)
    collections = [collection_named(t, COLLECTION) for t in tenants]
    plan = [(q, collections[i % len(collections)]) for i, q in enumerate(queries)]
    none = DocumentFilters()
    some = DocumentFilters(metadata={"source": "s3"})
    rows: list[dict] = []
    print(f"queries: {len(plan)} per measurement, tenants in turn; {load()}", flush=True)

    def anchor_bm25(item: tuple) -> None:
        sql(f"SELECT id FROM embeddings ORDER BY content <@> to_bm25query(%s, '{BM25_INDEX}') LIMIT 10", [item[0].text])

    def anchor_hnsw(item: tuple) -> None:
        sql(f"SELECT id FROM {PLAIN_TABLE} ORDER BY embedding <=> %s::vector(384) LIMIT 10", [str(item[0].embedding)])

    def run_search(
        mode: str, filters: DocumentFilters, *, text: bool = True, vector: bool = True, fusion: str = DEFAULT_FUSION
    ) -> Any:
        def run(item: tuple) -> dict:
            query, collection = item
            result = search(
                collection=collection, mode=mode, query=query.text if text else None,
                query_embedding=query.embedding if vector else None, model=MODEL, k=10, filters=filters,
                fusion=fusion,
            )  # fmt: skip
            return {"full_k": int(len(result.results) == 10), "vector": result.vector_method or "-"}

        return run

    def engine_bm25(item: tuple) -> None:
        bm25_search(collection=item[1], query=item[0].text, limit=10, filters=none)

    anchor_text, text_contents = "anchor: pg_textsearch bm25 top-10 (whole table)", "bm25 top-10 with contents (search)"
    anchor_vector, hybrid = (
        f"anchor: plain HNSW top-10 ({PLAIN_TABLE})",
        f"hybrid top-10, {DEFAULT_FUSION} (100 candidates per list)",
    )
    entries = [
        (anchor_text, anchor_bm25),
        ("bm25 top-10, ids and scores (bm25_search)", engine_bm25),
        (text_contents, run_search("bm25", none, vector=False)),
        (anchor_vector, anchor_hnsw),
        ("vector top-10 (tenant's collection)", run_search("vector", none, text=False)),
        ("vector top-10 + metadata filter (1% of table)", run_search("vector", some, text=False)),
        *((f"hybrid top-10, {f} (100 candidates per list)", run_search("hybrid", none, fusion=f)) for f in FUSIONS),
        (f"hybrid top-10 + metadata filter, {DEFAULT_FUSION}", run_search("hybrid", some)),
    ]
    measured = measure(entries, plan, rows)

    def p95(name: str) -> float:
        return measured[name]["p95_ms"]

    report["queries"] = rows
    ratios = {
        "bm25 with contents / pg_textsearch (p95, target <= 3)": p95(text_contents) / p95(anchor_text),
        f"hybrid {DEFAULT_FUSION} / plain HNSW (p95, target <= 4)": p95(hybrid) / p95(anchor_vector),
    }
    for fusion in FUSIONS:
        if fusion != DEFAULT_FUSION:
            name = f"hybrid top-10, {fusion} (100 candidates per list)"
            ratios[f"hybrid {fusion} / plain HNSW (p95)"] = p95(name) / p95(anchor_vector)
    report["latency_ratios"] = {name: round(value, 2) for name, value in ratios.items()}
    for name, value in ratios.items():
        print(f"  ratio {name}: {value:.2f}x", flush=True)

    # HNSW recall against an exact scan of the same rows (written out: no path of vector_search, no cached plan)
    recalls = []
    for query, collection in plan[:100]:
        approximate = vector_search(collection=collection, model=MODEL, query_embedding=query.embedding, limit=10,
                                    filters=none)  # fmt: skip
        with transaction.atomic():
            sql("SET LOCAL enable_indexscan = off")
            exact = sql(
                "SELECT id FROM embeddings WHERE tenant_id = %s AND collection = %s AND model = %s"
                " ORDER BY embedding <=> %s::vector, id LIMIT 10",
                [collection.tenant_id, collection.name, MODEL, str(query.embedding)],
            )
        recalls.append(len({i for i, _ in approximate.hits} & {i for (i,) in exact}) / 10)
    report["vector_recall_at_10_vs_exact"] = round(statistics.fmean(recalls), 4)
    print(f"  vector recall@10 of the HNSW path against an exact scan: {report['vector_recall_at_10_vs_exact']}")

    sql(f"DROP INDEX {BM25_INDEX}")  # the anchor's index is no part of ingest (the next run builds it again)
    print(f"ingest throughput ({args.ingest_docs} new documents per run, batches of {BATCH}); {load()}", flush=True)
    # Round 1 fills the index slots that the previous run's VACUUM freed all over the HNSW index (costly: every
    # insert lands on another page); later rounds append. Full-page images: the first change of a page after a
    # checkpoint logs the whole page.
    offset = 10_000_000
    for round_number in range(1, args.ingest_rounds + 1):
        for writers in (1, 4):
            ((fpi_before, wal_before),) = sql("SELECT wal_fpi, wal_bytes FROM pg_stat_wal")
            rate = ingest_throughput(tenants, writers, args.ingest_docs // writers, offset)
            ((fpi_after, wal_after),) = sql("SELECT wal_fpi, wal_bytes FROM pg_stat_wal")
            fpi = (fpi_after - fpi_before) / args.ingest_docs
            wal_kb = float(wal_after - wal_before) / 1024 / args.ingest_docs
            offset += args.ingest_docs
            suffix = f"{writers}_writer{'s' if writers > 1 else ''}"
            report.setdefault(f"ingest_docs_per_second_{suffix}", []).append(round(rate))
            report.setdefault(f"ingest_wal_per_doc_{suffix}", []).append(
                {"full_page_images": round(fpi, 2), "kB": round(wal_kb, 1)}
            )
            print(
                f"  round {round_number}, {writers} writer(s): {rate:.0f} documents/s (statistics maintained, every "
                f"index in place); WAL per document {wal_kb:.1f} kB, {fpi:.2f} full-page images",
                flush=True,
            )
    if args.ingest_rounds:
        bare_hnsw_anchor(args, report, tenants[0])
    if args.import_docs:
        rate, summary = import_command_throughput(tenants[0], args.import_docs, offset)
        report["import_documents_docs_per_second"] = round(rate)
        print(f"manage.py import_documents, {args.import_docs} documents: {rate:.0f} documents/s ({summary})")
    for collection in Collection.objects.filter(name=COLLECTION):
        documents_delete(actor=BENCH, collection=collection, filters=DocumentFilters(metadata={EXTRA: True}))
    started = time.monotonic()
    sql("VACUUM mcp.embeddings")  # the removed documents' HNSW entries would slow the next run down
    print(f"  VACUUM after removing them: {time.monotonic() - started:.0f} s", flush=True)
    report["load_after"] = load()
    print(f"done; {report['load_after']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)


if __name__ == "__main__":
    main()
