"""The HNSW indexes of `embeddings`: collection graphs, and the padded index of the uncommon dimensions.

Collection graphs: the vectors of one model in one collection get an HNSW index of their own once there are
more than GRAPH_MIN_DOCUMENTS of them.

Why not one shared index per dimension (search 0004 to 0006): pgvector filters *after* walking the graph, so a
collection that is 1 in 10 of the graph's entries walks ~10 times as many to find its own, and every ingest
writer queued on the same graph. Measured on 100,000 documents in 10 tenants (bench/search_bench.py): the
hybrid search's 100 vector candidates cost ~6x a plain HNSW top-10; with the collection's own graph there is no
filter left to apply (tenant, collection, model and dimension are the index's predicate), and writers to
different collections insert into different graphs.

Small collections need no graph: at most `search.selectors.EXACT_SCAN_MAX` documents are compared exactly
(cheaper and exact). So the shared indexes of the common dimensions are gone (search 0007) and a vector is in at
most one graph, its collection's, at ingest's cost of one HNSW insert (vectors of other dimensions still go to
the padded shared index, `idx_embeddings_normalized_hnsw`, too).

The index is partial: `embedding::vector(d)`, cosine, WHERE tenant_id = <uuid> AND collection = <name> AND
model = <model> AND vector_dims(embedding) = d, named `idx_embeddings_graph_<search_collection_models.id>`, with
a comment that marks it for `schema_gap` as kept on purpose (it is data-driven, not part of the schema). The
planner uses a partial index only for a query that repeats its predicate with the same constants:
`graph_predicate` writes it for both. Graphs are built and dropped CONCURRENTLY (no lock on writers or readers)
by the worker's `sync_collection_graphs` job and `manage.py sync_collection_graphs`, never during a request;
until a large collection's graph is ready, its searches compare exactly (correct, slower). A graph is dropped when
its model leaves the collection, and when the collection shrinks under half the threshold (so a collection near
the threshold is not built and dropped in turn).

The cost of many graphs: every statement on `embeddings` is planned against all its indexes (a partial index's
predicate is tried on every query), and every insert checks each graph's predicate. A few hundred large
collections per database are fine; past that, partition `embeddings` by tenant (docs: How it scales).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from search.models import NATIVE_INDEX_DIMENSIONS

#: pgvector's defaults; the benchmarks' recall figures are for these.
HNSW_WITH = "WITH (m = 16, ef_construction = 64)"
#: The padded index (search 0004): `normalized_embedding` (the spec's 1,536-wide unit vector), inner product, of
#: the rows whose dimension is not one of NATIVE_INDEX_DIMENSIONS (which had shared indexes of their own until
#: search 0007). A query uses it by repeating its predicate and its ORDER BY.
PADDED_INDEX = "idx_embeddings_normalized_hnsw"


def padded_predicate(alias: str = "") -> str:
    return f"vector_dims({alias}embedding) NOT IN ({', '.join(map(str, NATIVE_INDEX_DIMENSIONS))})"


def padded_create_sql() -> str:
    """The padded index as the migrations leave it."""
    return (
        f"CREATE INDEX IF NOT EXISTS {PADDED_INDEX} ON embeddings USING hnsw (normalized_embedding vector_ip_ops) "
        f"{HNSW_WITH} WHERE {padded_predicate()}"
    )


#: A collection's model gets its own graph past this many documents (the exact path's limit: below it, an exact
#: comparison beats any graph walk).
GRAPH_MIN_DOCUMENTS = 2000
GRAPH_PREFIX = "idx_embeddings_graph_"
#: Starts the comment of every graph: `schema_gap` reports it as kept, not as a gap (deploy.catalog.KEEP_MARKER).
GRAPH_COMMENT = "mcpadmin:keep collection graph "
#: The advisory lock (two keys: "mcpg", 1) that keeps graph syncs one at a time.
SYNC_LOCK = (0x6D637067, 1)


@dataclass(frozen=True)
class GraphKey:
    """What a graph indexes: one model's vectors (of one dimension) in one tenant's collection."""

    collection_model_id: int
    tenant_id: UUID
    collection: str
    model: str
    dimension: int

    @property
    def name(self) -> str:
        return graph_name(self.collection_model_id)

    def describe(self) -> str:
        return json.dumps(
            {"tenant_id": str(self.tenant_id), "collection": self.collection, "model": self.model,
             "dimension": self.dimension},
            sort_keys=True,
        )  # fmt: skip


def graph_name(collection_model_id: int) -> str:
    return f"{GRAPH_PREFIX}{int(collection_model_id)}"


def graph_predicate(key: GraphKey, alias: str = "") -> str:
    """The graph's WHERE clause, with literals: the index and the searches that walk it write the very same."""
    column = sql.SQL(alias + "{}").format
    return sql.SQL("{} = {}::uuid AND {} = {} AND {} = {} AND vector_dims({}) = {}").format(
        column(sql.Identifier("tenant_id")), sql.Literal(str(key.tenant_id)),
        column(sql.Identifier("collection")), sql.Literal(key.collection),
        column(sql.Identifier("model")), sql.Literal(key.model),
        column(sql.Identifier("embedding")), sql.Literal(int(key.dimension)),
    ).as_string(None)  # fmt: skip


def graph_expression(dimension: int, alias: str = "") -> str:
    return f"{alias}embedding::vector({int(dimension)})"


def graph_distance(dimension: int, alias: str = "", query: str = "%(raw_vector)s") -> str:
    """What a graph orders by: the cosine distance of the raw vector at its own width."""
    return f"{graph_expression(dimension, alias)} <=> {query}::vector({int(dimension)})"


def graph_create_sql(key: GraphKey, *, concurrently: bool = True) -> list[str]:
    how = "CONCURRENTLY " if concurrently else ""
    comment = sql.Literal(GRAPH_COMMENT + key.describe()).as_string(None)
    return [
        f"CREATE INDEX {how}{key.name} ON embeddings USING hnsw (({graph_expression(key.dimension)}) "
        f"vector_cosine_ops) {HNSW_WITH} WHERE {graph_predicate(key)}",
        f"COMMENT ON INDEX {key.name} IS {comment}",
    ]


@dataclass
class GraphSync:
    """What a pass of `collection_graphs_sync` did (or, with `dry_run`, would do)."""

    built: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    #: Large collection-models whose graph is in place and valid.
    ready: list[str] = field(default_factory=list)
    #: Another sync was running: this one did nothing.
    busy: bool = False

    def __len__(self) -> int:
        return len(self.built) + len(self.dropped)


# Fragments of the queries that read collection-models (`cm`, of the collection `c`): whether `cm`'s graph is
# valid (NULL: there is none), and how many documents it has, counted up to %(cap)s (an index-only scan of
# idx_embeddings_content_hash that stops at the cap).
GRAPH_VALID_SQL = f"""(SELECT i.indisvalid FROM pg_class ic JOIN pg_index i ON i.indexrelid = ic.oid
  WHERE ic.relname = '{GRAPH_PREFIX}' || cm.id AND i.indrelid = 'embeddings'::regclass)"""
_MODEL_DOCUMENTS_SQL = """(SELECT count(*) FROM (SELECT 1 FROM embeddings e
  WHERE e.tenant_id = c.tenant_id AND e.collection = c.name AND e.model = cm.model LIMIT %(cap)s) capped)"""

#: How a model of a collection is searched (`collection_models`): its graph; every document compared (at most
#: GRAPH_MIN_DOCUMENTS of them); or, past that, every document compared until the worker builds its graph. (Vectors
#: of uncommon dimensions in a collection past EXACT_SCAN_MAX documents use the padded shared index until then.)
VECTOR_PATHS = ("graph", "exact", "graph pending")
_MODELS_SQL = f"""
SELECT cm.model, cm.dimension, {GRAPH_VALID_SQL}, {_MODEL_DOCUMENTS_SQL}
  FROM search_collection_models cm JOIN search_collections c ON c.id = cm.collection_id
 WHERE cm.collection_id = %(collection_id)s
 ORDER BY cm.model
"""


def collection_models(collection_id: UUID, *, using: str = DEFAULT_DB_ALIAS) -> list[dict[str, Any]]:
    """Each model of the collection, by name: its dimension and how its vector searches run (`vector_search`, one
    of VECTOR_PATHS)."""
    with connections[using].cursor() as cursor:
        cursor.execute(_MODELS_SQL, {"collection_id": collection_id, "cap": GRAPH_MIN_DOCUMENTS + 1})
        rows = cursor.fetchall()
    return [
        {
            "model": model,
            "dimension": dimension,
            "vector_search": "graph" if valid else ("graph pending" if documents > GRAPH_MIN_DOCUMENTS else "exact"),
        }
        for model, dimension, valid, documents in rows
    ]


# Every collection-model of a collection with more than half the threshold of documents, with its own count.
_WANTED_SQL = f"""
SELECT cm.id, c.tenant_id, c.name, cm.model, cm.dimension, {_MODEL_DOCUMENTS_SQL}
  FROM search_collection_models cm
  JOIN search_collections c ON c.id = cm.collection_id
 WHERE (SELECT coalesce(sum(documents), 0) FROM search_collection_counters n WHERE n.collection_id = c.id) > %(half)s
   AND (%(collection_id)s::uuid IS NULL OR c.id = %(collection_id)s::uuid)
"""
# Every graph present, valid or not.
_PRESENT_SQL = """
SELECT ic.relname, i.indisvalid, obj_description(ic.oid, 'pg_class')
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE i.indrelid = 'embeddings'::regclass AND ic.relname LIKE %(prefix)s
"""


def collection_graphs_sync(
    *,
    collection_id: UUID | None = None,
    concurrently: bool | None = None,
    dry_run: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> GraphSync:
    """Builds the graphs that large collection-models lack and drops those no longer wanted (or left invalid).

    `collection_id`: only that collection's graphs are built (after a bulk import), none dropped.
    CONCURRENTLY (no lock on readers or writers) unless called inside a transaction, where it cannot run (a test,
    a caller's atomic block: the build then locks writers out until that transaction ends). When another sync is
    running (an advisory lock says so), returns at once with `busy` set.
    """
    in_transaction = connections[using].in_atomic_block
    # One sync at a time (the worker's job, the command, imports): two builds of one graph would collide. Inside a
    # transaction the lock is the transaction's (released whatever happens); outside, the session's, released here.
    with connections[using].cursor() as cursor:
        how_long = "xact_" if in_transaction else ""
        cursor.execute(f"SELECT pg_try_advisory_{how_long}lock(%s, %s)", SYNC_LOCK)
        if not cursor.fetchone()[0]:
            return GraphSync(busy=True)
    try:
        return _sync(
            collection_id=collection_id,
            concurrently=not in_transaction if concurrently is None else concurrently,
            dry_run=dry_run,
            using=using,
        )
    finally:
        if not in_transaction:
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", SYNC_LOCK)


def _sync(*, collection_id: UUID | None, concurrently: bool, dry_run: bool, using: str) -> GraphSync:
    done = GraphSync()
    with connections[using].cursor() as cursor:
        cursor.execute(
            _WANTED_SQL,
            {"cap": GRAPH_MIN_DOCUMENTS + 1, "half": GRAPH_MIN_DOCUMENTS // 2, "collection_id": collection_id},
        )
        candidates = cursor.fetchall()
        cursor.execute(_PRESENT_SQL, {"prefix": GRAPH_PREFIX.replace("_", r"\_") + "%"})
        present = {name: (valid, comment) for name, valid, comment in cursor.fetchall()}
    wanted: dict[str, GraphKey] = {}
    for cm_id, tenant_id, collection, model, dimension, documents in candidates:
        key = GraphKey(cm_id, tenant_id, collection, model, dimension)
        keep = key.name in present and documents >= GRAPH_MIN_DOCUMENTS // 2
        if documents > GRAPH_MIN_DOCUMENTS or keep:
            wanted[key.name] = key
    how = "CONCURRENTLY " if concurrently else ""
    for name, (valid, comment) in sorted(present.items()):
        key = wanted.get(name)
        if collection_id is not None and key is None:
            continue  # another collection's: left to a full pass
        if key is not None and valid and comment == GRAPH_COMMENT + key.describe():
            done.ready.append(name)
            continue
        done.dropped.append(name)  # not wanted, half-built (a failed CONCURRENTLY leaves it invalid), or stale
        if not dry_run:
            with connections[using].cursor() as cursor:
                cursor.execute(f"DROP INDEX {how}IF EXISTS {name}")
    for name, key in sorted(wanted.items()):
        if name in done.ready:
            continue
        done.built.append(name)
        if not dry_run:
            with connections[using].cursor() as cursor:
                if connections[using].in_atomic_block:
                    # No index is built on a table with deferred checks pending (the foreign keys are deferrable):
                    # they run now rather than at commit, with the same outcome.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for statement in graph_create_sql(key, concurrently=concurrently):
                    cursor.execute(statement)
    return done
