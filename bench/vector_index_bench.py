"""What an HNSW index costs a writer, by how the vectors are indexed: the figures behind the index design.

    .venv/bin/python bench/vector_index_bench.py                 # 100,000 vectors of 384 dimensions
    .venv/bin/python bench/vector_index_bench.py --rows 20000    # a quick run

In its own database (`mcpadmin_vecbench`), one bare table per variant: `id`, `model`, the raw vector and its
unit-length form zero-padded to 1536 (as `embeddings` has them), loaded with `--rows` clustered vectors (the
search benchmark's corpus: 100 topics), then indexed. For each variant it prints the index build time and
size, then the rate of inserts into the indexed table (batches of 500, one writer and two, each with its own
connection), and top-10 latency and recall@10 against an exact scan. Nothing but the index differs, so the
ratios between variants are the index's own cost.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

os.environ.setdefault("MCPADMIN_DB_NAME", "mcpadmin_vecbench")
os.environ.setdefault("MCPADMIN_PG_CLEANUP", "keep")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")

import django

django.setup()

from django.db import connection, connections  # noqa: E402

from bench.common import percentile  # noqa: E402

DIMENSIONS = 384
WIDTH = 1536
MODEL = "m384"
BATCH = 500

#: name -> (index DDL on table {t}, ORDER BY expression of a query $1 (raw) / $2 (padded unit), rerank?)
VARIANTS: dict[str, tuple[str, str, bool]] = {
    "reference: no vector index (exact scan)": ("SELECT 1", "embedding <=> %(raw)s::vector", False),
    "padded vector(1536), ip": (
        "CREATE INDEX ON {t} USING hnsw (normalized vector_ip_ops) WITH (m = 16, ef_construction = 64)",
        "normalized <#> %(padded)s::vector",
        False,
    ),
    "padded halfvec(1536), ip": (
        "CREATE INDEX ON {t} USING hnsw ((normalized::halfvec(1536)) halfvec_ip_ops) "
        "WITH (m = 16, ef_construction = 64)",
        "normalized::halfvec(1536) <#> %(padded)s::halfvec(1536)",
        False,
    ),
    "per model vector(384), cosine": (
        "CREATE INDEX ON {t} USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64) WHERE model = 'm384'",
        "embedding::vector(384) <=> %(raw)s::vector(384)",
        False,
    ),
    "per model halfvec(384), cosine": (
        "CREATE INDEX ON {t} USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) "
        "WITH (m = 16, ef_construction = 64) WHERE model = 'm384'",
        "embedding::halfvec(384) <=> %(raw)s::halfvec(384)",
        False,
    ),
    "per model vector(384), cosine, IVFFlat lists 100, probes 10": (
        "CREATE INDEX ON {t} USING ivfflat ((embedding::vector(384)) vector_cosine_ops) "
        "WITH (lists = 100) WHERE model = 'm384'",
        "embedding::vector(384) <=> %(raw)s::vector(384)",
        False,
    ),
    "padded binary_quantize bit(1536), hamming + rerank": (
        "CREATE INDEX ON {t} USING hnsw ((binary_quantize(normalized)::bit(1536)) bit_hamming_ops) "
        "WITH (m = 16, ef_construction = 64)",
        "binary_quantize(normalized)::bit(1536) <~> binary_quantize(%(padded)s::vector)",
        True,
    ),
}


def vectors(count: int, seed: int, noise: float = 0.9) -> np.ndarray:
    """Unit vectors around 100 topic centroids (the search benchmark's corpus model)."""
    centroids = np.random.default_rng(20251124).standard_normal((100, DIMENSIONS))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    out = centroids[rng.integers(0, 100, count)] + rng.standard_normal((count, DIMENSIONS)) * (noise / DIMENSIONS**0.5)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def padded(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + ",0" * (WIDTH - len(vector)) + "]"


def sql(query: str, params: Any = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


INSERT = """
INSERT INTO {t} (model, embedding, normalized)
SELECT %s, v::vector, (v::vector::real[] || array_fill(0::real, ARRAY[1536 - vector_dims(v::vector)]))::vector
  FROM unnest(%s::text[]) AS v
"""


def _writer(args: tuple[str, int, int, Any]) -> tuple[int, float]:
    table, seed, count, barrier = args
    batches = [[text(v) for v in vectors(BATCH, seed + i)] for i in range(count // BATCH)]
    connection.ensure_connection()
    barrier.wait()
    started = time.monotonic()
    for batch in batches:
        sql(INSERT.format(t=table), [MODEL, batch])
    elapsed = time.monotonic() - started
    connection.close()
    return len(batches) * BATCH, elapsed


def insert_rate(table: str, writers: int, total: int, seed: int) -> float:
    context = multiprocessing.get_context("fork")
    barrier = context.Manager().Barrier(writers)
    connections.close_all()
    with context.Pool(writers) as pool:
        results = pool.map(_writer, [(table, seed + 1000 * w, total // writers, barrier) for w in range(writers)])
    return sum(n for n, _ in results) / max(elapsed for _, elapsed in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--inserts", type=int, default=4000, help="rows per insert-rate run")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--only", help="run the variants whose name contains this")
    parser.add_argument("--checkpoint", action="store_true", help="a CHECKPOINT before each insert run")
    args = parser.parse_args()
    print(f"database {connection.settings_dict['NAME']}; load average {os.getloadavg()[0]:.2f}", flush=True)
    sql("CREATE EXTENSION IF NOT EXISTS vector")
    base = vectors(args.rows, 1)
    queries = vectors(args.queries, 2, noise=1.2)
    seed = 10_000
    for number, (name, (ddl, order, rerank)) in enumerate(VARIANTS.items()):
        if args.only and args.only not in name:
            continue
        table = f"vb_{number}"
        sql(f"DROP TABLE IF EXISTS {table}")
        sql(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, model text, embedding vector, normalized vector(1536))")
        sql(f"ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE MAIN")
        for start in range(0, args.rows, 5000):
            sql(INSERT.format(t=table), [MODEL, [text(v) for v in base[start : start + 5000]]])
        sql("SET maintenance_work_mem = '1GB'")
        started = time.monotonic()
        sql(ddl.format(t=table))
        build = time.monotonic() - started
        sql("RESET maintenance_work_mem")
        sql(f"VACUUM ANALYZE {table}")
        size = sql(f"SELECT pg_size_pretty(sum(pg_relation_size(indexrelid))) FROM pg_index WHERE indrelid = '{table}'"
                   "::regclass AND NOT indisprimary")[0][0]  # fmt: skip
        print(f"{name}: build {build:.1f} s, index {size}", flush=True)
        for writers in (1, 2):
            if args.checkpoint:
                sql("CHECKPOINT")  # the run starts after a checkpoint: the first change of every page logs it whole
            ((fpi_before, wal_before),) = sql("SELECT wal_fpi, wal_bytes FROM pg_stat_wal")
            rate = insert_rate(table, writers, args.inserts, seed)
            ((fpi_after, wal_after),) = sql("SELECT wal_fpi, wal_bytes FROM pg_stat_wal")
            seed += 10_000
            print(f"  inserts, {writers} writer(s): {rate:.0f} rows/s; WAL per row "
                  f"{float(wal_after - wal_before) / 1024 / args.inserts:.1f} kB, "
                  f"{(fpi_after - fpi_before) / args.inserts:.2f} full-page images", flush=True)  # fmt: skip
        timings, recalls = [], []
        for q in queries:
            params = {"raw": text(q), "padded": padded(q)}
            exact = {row[0] for row in sql(
                f"SELECT id FROM {table} ORDER BY embedding <=> %(raw)s::vector LIMIT 10", params)}  # fmt: skip
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SET LOCAL hnsw.ef_search = 100")
                cursor.execute("SET LOCAL ivfflat.probes = 10")
                where = "WHERE model = 'm384'" if "per model" in name else ""
                inner = f"SELECT id, embedding FROM {table} {where} ORDER BY {order} LIMIT {100 if rerank else 10}"
                if rerank:
                    inner = f"SELECT id FROM ({inner}) c ORDER BY embedding <=> %(raw)s::vector LIMIT 10"
                cursor.execute(inner, params)
                found = {row[0] for row in cursor.fetchall()}
                cursor.execute("COMMIT")
            timings.append((time.perf_counter() - started) * 1000)
            recalls.append(len(found & exact) / 10)
        print(f"  top-10: p50 {percentile(timings, 0.5):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, "
              f"recall@10 {statistics.fmean(recalls):.3f}", flush=True)  # fmt: skip
        sql(f"DROP TABLE {table}")


if __name__ == "__main__":
    main()
