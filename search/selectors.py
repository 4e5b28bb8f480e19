"""Reads of the search app: BM25, vector and hybrid search, and collection statistics.

BM25 (k1 = 1.2, b = 0.75, Lucene IDF) with the statistics of the collection
at query time, i.e. the sums of the striped side tables in this statement's
snapshot. Query terms are the collection analyzer's lexemes of the query
(OR semantics, each distinct lexeme once). Every document that holds one of
them is scored, from `search_postings` (the collection's inverted index: term
frequency and document length per term and document, read by index-only
scans): the top k is exact, not approximate. Each term's contribution is
computed exactly as `mcp.bm25_score` computes it (same operations in the same
order and types), summed in lexeme order. (Candidates from the GIN index on
`content_tsvector` with term frequencies from `term_frequencies` gave the same
results 10-20 times slower: every candidate meant a heap row and a JSONB
decompression; see the docs.)

Vectors: the HNSW index of the model's dimension (search/vector_indexes.py:
one per common dimension on the raw vector, cosine; the one over the padded
unit vectors `normalized_embedding`, inner product = cosine, for the rest),
restricted to the caller's tenant, collection and model. pgvector filters after the index scan,
so the scan is iterative (`hnsw.iterative_scan = relaxed_order`, pgvector >=
0.8) and re-sorted; when it still returns fewer than asked (a very selective
filter, an older pgvector, `max_scan_tuples` reached), an exact scan of the
filtered rows answers instead. With extra filters (metadata, agent, task
type, dates) an exact scan is tried first, when at most EXACT_SCAN_MAX rows
pass them: cheaper there than walking the graph for matches; without filters, a
collection of at most EXACT_SCAN_MAX documents is compared exactly too.

Hybrid: the two candidate lists fused by search/fusion.py: distribution-based score fusion by default, also
min-max (`relative`) or reciprocal rank fusion, each computed exactly as its SQL function does (tests compare them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError, NotFound
from mcpadmin.db.prepared import PreparedStatement
from search import policy, vector_indexes
from search.embedder import local_embedder
from search.filters import DocumentFilters
from search.fusion import DEFAULT_FUSION, Fusion, ScoredList, fuse, fusion_problems
from search.models import NATIVE_INDEX_DIMENSIONS, Collection, Embedding, EmbeddingStatistics
from search.statements import (
    COUNTERS_DIFF_SQL,
    POSTINGS_DIFF_SQL,
    STATISTICS_DIFF_SQL,
    collection_params,
    documents_where,
)
from search.vectors import normalized_padded_text, vector_problem
from tenants.models import Tenant

K1 = 1.2
B = 0.75


def collection_named(tenant: Tenant | Any, name: str) -> Collection | None:
    return Collection.objects.filter(tenant_id=getattr(tenant, "id", tenant), name=name).first()


def collection_readable(*, actor: Actor, name: str | None = None, collection_id: Any = None) -> Collection:
    """The collection the caller may read, by name (its tenant's) or by id (also another tenant's public one).

    404 when there is none, or the caller may not read it.
    """
    collections = Collection.objects.select_related("workspace")
    if collection_id is not None:
        try:
            collection = collections.filter(pk=UUID(str(collection_id))).first()
        except ValueError:
            collection = None
    else:
        collection = collections.filter(tenant_id=actor.tenant_id, name=name).first()
    if collection is None or not policy.may_read(actor, collection):
        raise NotFound("No such collection.", {"collection": [str(name or collection_id)]})
    return collection


def collection_document(collection: Collection, document_id: Any) -> Embedding:
    """One document of the collection (404 when it is not there)."""
    document = Embedding.objects.filter(
        id=document_id, tenant_id=collection.tenant_id, collection=collection.name
    ).first()
    if document is None:
        raise NotFound("No such document.")
    return document


def collection_documents_count(collection: Collection) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM embeddings WHERE tenant_id = %s AND collection = %s",
            [collection.tenant_id, collection.name],
        )
        return int(cursor.fetchone()[0])


# --- BM25 ----------------------------------------------------------------------------------------------------------

# One statement (one snapshot): the query's lexemes, their document frequencies and the collection's N and
# average length from the side tables, then every posting of those terms, scored and summed per document.
# A term's contribution is computed with mcp.bm25_score's operations, in its order and with its types:
#   tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) * ln(1 + (N - df + 0.5) / (df + 0.5))
# and a document's terms are summed in lexeme order. The first row carries the lexemes (document NULL).
_BM25_SQL = """
WITH lexemes AS (
    SELECT lexeme AS term FROM unnest(to_tsvector(%(config)s::regconfig, %(query)s))
), collection AS (
    SELECT sum(documents)::int AS n, sum(total_length)::float8 / NULLIF(sum(documents), 0) AS avgdl
      FROM search_collection_counters WHERE collection_id = %(collection_id)s
), terms AS MATERIALIZED (  -- one ln() per term, not one per posting
    SELECT l.term, ln(1 + (GREATEST(c.n - df.df, 0) + 0.5) / (df.df + 0.5))::float8 AS idf, c.avgdl
      FROM lexemes l CROSS JOIN collection c
     CROSS JOIN LATERAL (SELECT sum(document_count)::int AS df FROM search_term_stats
                          WHERE collection_id = %(collection_id)s AND term = l.term) AS df
     WHERE df.df > 0 AND c.n > 0 AND c.avgdl > 0
), weights AS (
    SELECT p.document_id,
           ((p.term_frequency::float8 * (%(k1)s::float8 + 1))
            / (p.term_frequency + %(k1)s::float8 * (1 - %(b)s::float8
                                                    + %(b)s::float8 * (p.document_length / t.avgdl))))
           * t.idf AS weight
      FROM terms t JOIN search_postings p ON p.collection_id = %(collection_id)s AND p.term = t.term
     ORDER BY p.document_id, t.term  -- sum() adds its input in this order: a document's terms in lexeme order
), scored AS (
    SELECT document_id, sum(weight) AS score FROM weights GROUP BY document_id
)
(SELECT NULL::uuid, NULL::float8, (SELECT coalesce(array_agg(term ORDER BY term), '{{}}') FROM lexemes))
UNION ALL
(SELECT s.document_id, s.score, NULL FROM scored s {filtered}
  ORDER BY s.score DESC, s.document_id LIMIT %(limit)s)
"""


_BM25_PARAMETERS = {"config": "text", "query": "text", "collection_id": "uuid", "k1": "float8", "b": "float8",
                    "limit": "int"}  # fmt: skip
_BM25_PREPARED = PreparedStatement.from_named("mcpadmin_search_bm25", _BM25_SQL.format(filtered=""), _BM25_PARAMETERS)


def bm25_search(*, collection: Collection, query: str, limit: int, filters: DocumentFilters) -> ScoredList:
    """The exact BM25 top `limit` of the collection's documents that pass `filters`.

    Postings are read through index-only scans; the documents' rows only when filters must be checked.
    Without filters the statement is prepared once per connection (planning costs as much as running it).
    """
    params: dict[str, Any] = {
        "config": collection.text_search_config,
        "query": query,
        "collection_id": collection.id,
        "k1": K1,
        "b": B,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        if filters.is_empty():
            _BM25_PREPARED.execute(cursor, [params[name] for name in _BM25_PARAMETERS])
        else:
            scope, scope_params = documents_where(collection, filters)
            sql = _BM25_SQL.format(filtered=f"JOIN embeddings e ON e.id = s.document_id AND {scope}")
            cursor.execute(sql, params | scope_params)
        rows = cursor.fetchall()
    return ScoredList(hits=[(i, score) for i, score, _ in rows[1:]], method="bm25", terms=list(rows[0][2]))


# --- Vectors -------------------------------------------------------------------------------------------------------


@cache
def _iterative_scans_available() -> bool:
    """pgvector >= 0.8 has `hnsw.iterative_scan` (the answer is cached per process)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_to_array(extversion, '.')::int[] >= '{0,8}' FROM pg_extension WHERE extname = 'vector'"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


# A collection graph (search/vector_indexes.py) orders by the cosine distance of the raw vector at its own width,
# WHERE its predicate (literals: a partial index serves only a query that repeats them); vectors of other
# dimensions in a collection without a graph, by the inner product of the padded unit vectors (the padded index).
# The score is computed from the row's own inline vector (the same cosine similarity), so that no padded 6 KB
# vector is read back from TOAST.
_VECTOR_SQL = """
SELECT e.id, 1 - (e.embedding <=> %(raw_vector)s::vector) AS score FROM embeddings e
 WHERE {scope} AND e.model = %(model)s AND {predicate}
 ORDER BY {order}
 LIMIT %(limit)s
"""
_PADDED_PATH = (
    f"{vector_indexes.padded_predicate('e.')} AND e.normalized_embedding IS NOT NULL",
    "e.normalized_embedding <#> %(vector)s::vector",
)


def _graph_path(graph: vector_indexes.GraphKey) -> tuple[str, str]:
    """(predicate, ORDER BY) of a collection graph; the literals' % doubled (the statement has parameters)."""
    predicate = vector_indexes.graph_predicate(graph, "e.").replace("%", "%%")
    return predicate, vector_indexes.graph_distance(graph.dimension, "e.")


# Exact scans compare the model's own vector (`embedding`, kept inline: migration search 0003) by cosine, not the
# 1536-wide padded one from TOAST: same ranking and score (cosine similarity), a fraction of the reads. Every
# compared row has the query's model, hence its dimension.
_EXACT_VECTOR_SQL = """
SELECT e.id, 1 - (e.embedding <=> %(raw_vector)s::vector) AS score FROM embeddings e
 WHERE {scope} AND e.model = %(model)s AND e.embedding IS NOT NULL
 ORDER BY (e.embedding <=> %(raw_vector)s::vector) + 0, e.id
 LIMIT %(limit)s
"""
#: When at most this many documents pass the filters (extra filters: counted; none: the collection's size), an
#: exact scan answers (it beats the HNSW scan, which filters after the fact and would walk ~k / selectivity of
#: the shared graph to find k of them).
EXACT_SCAN_MAX = vector_indexes.GRAPH_MIN_DOCUMENTS
# The filtered rows are collected first (vectors not read: TOAST pointers), and compared only when there
# are at most %(cap)s of them. The first row carries how many there were (up to cap + 1).
_CAPPED_EXACT_SQL = """
WITH filtered AS MATERIALIZED (
    SELECT e.id, e.embedding FROM embeddings e
     WHERE {scope} AND e.model = %(model)s AND e.embedding IS NOT NULL
     LIMIT %(cap)s + 1
)
(SELECT NULL::uuid, (SELECT count(*) FROM filtered)::float8)
UNION ALL
(SELECT f.id, 1 - (f.embedding <=> %(raw_vector)s::vector) FROM filtered f
  WHERE (SELECT count(*) FROM filtered) <= %(cap)s
  ORDER BY f.embedding <=> %(raw_vector)s::vector, f.id
  LIMIT %(limit)s)
"""
# The vectors are parameters of type vector, parsed once per execution: as text, every `$1::vector` in the
# statement was parsed again where it is evaluated (twice as slow for 100 candidates, measured).
_VECTOR_PARAMETERS = {
    "raw_vector": "vector",
    "vector": "vector",
    "tenant_id": "uuid",
    "collection": "text",
    "model": "text",
    "limit": "int",
}


# The unfiltered exact scan of a small collection, prepared once per connection (parameters as _VECTOR_PARAMETERS').
_EXACT_PREPARED = PreparedStatement.from_named(
    "mcpadmin_search_vector_exact",
    _EXACT_VECTOR_SQL.format(scope="e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s"),
    _VECTOR_PARAMETERS,
)


# The unfiltered search of the padded index, prepared once per connection.
_PADDED_PREPARED = PreparedStatement.from_named(
    "mcpadmin_search_vector_padded",
    _VECTOR_SQL.format(
        scope="e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s",
        predicate=_PADDED_PATH[0],
        order=_PADDED_PATH[1],
    ),
    _VECTOR_PARAMETERS,
)


@dataclass(frozen=True)
class ModelInCollection:
    """A model's dimension in a collection, the collection's size, and the model's graph when it is ready."""

    dimension: int | None
    documents: int
    graph: vector_indexes.GraphKey | None = None


# One round trip: the model's row, the collection's size, and whether the model's graph is valid (pg_index).
_MODEL_SQL = f"""
SELECT cm.id, cm.dimension,
       (SELECT coalesce(sum(documents), 0) FROM search_collection_counters WHERE collection_id = %(c)s),
       {vector_indexes.GRAPH_VALID_SQL}
  FROM (SELECT 1) one LEFT JOIN search_collection_models cm ON cm.collection_id = %(c)s AND cm.model = %(m)s
"""


def model_in_collection(collection: Collection, model: str) -> ModelInCollection:
    with connection.cursor() as cursor:
        cursor.execute(_MODEL_SQL, {"c": collection.id, "m": model})
        cm_id, dimension, documents, graph_valid = cursor.fetchone()
    graph = None
    if graph_valid:
        graph = vector_indexes.GraphKey(cm_id, collection.tenant_id, collection.name, model, dimension)
    return ModelInCollection(dimension, int(documents), graph)


def vector_search(
    *, collection: Collection, model: str, query_embedding: list[float], limit: int, filters: DocumentFilters
) -> ScoredList:
    """The `limit` documents of `model` nearest to `query_embedding` (cosine), among those passing `filters`."""
    problem = vector_problem(query_embedding)
    if problem:
        raise DomainError("invalid", f"query_embedding: {problem}", {"query_embedding": [problem]})
    found = model_in_collection(collection, model)
    dimension = found.dimension
    if dimension is None:
        return ScoredList(method="none")  # no document of this model in the collection
    if dimension != len(query_embedding):
        message = f"Model {model!r} has dimension {dimension} in this collection; the query has {len(query_embedding)}."
        raise DomainError("invalid", message, {"query_embedding": [message]})
    scope, params = documents_where(collection, filters)
    params = {
        **params,
        "raw_vector": "[" + ",".join(map(repr, map(float, query_embedding))) + "]",
        "model": model,
        "limit": limit,
    }
    if not filters.is_empty():
        # Exact when few documents pass the filters: one statement, no transaction, no index settings.
        with connection.cursor() as cursor:
            cursor.execute(_CAPPED_EXACT_SQL.format(scope=scope), {**params, "cap": EXACT_SCAN_MAX})
            counted, *exact = cursor.fetchall()
        if counted[1] <= EXACT_SCAN_MAX:
            return ScoredList(hits=exact, method="exact")
    padded = dimension not in NATIVE_INDEX_DIMENSIONS
    if found.graph is None and (found.documents <= EXACT_SCAN_MAX or not padded):
        # A small collection (comparing its documents is cheaper than any graph walk, and exact), or a large one
        # whose graph is not built yet (vector_indexes.collection_graphs_sync): every document compared.
        with connection.cursor() as cursor:
            if filters.is_empty():
                _EXACT_PREPARED.execute(cursor, [{**params, "vector": None}[name] for name in _VECTOR_PARAMETERS])
            else:
                cursor.execute(_EXACT_VECTOR_SQL.format(scope=scope), params)
            return ScoredList(hits=cursor.fetchall(), method="exact")
    params["vector"] = normalized_padded_text(query_embedding) if found.graph is None else None
    with transaction.atomic(), connection.cursor() as cursor:
        if _iterative_scans_available():
            cursor.execute(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                "set_config('hnsw.ef_search', %s, true)",
                [str(max(40, min(limit, 1000)))],
            )
        if found.graph is None and filters.is_empty():
            _PADDED_PREPARED.execute(cursor, [params[name] for name in _VECTOR_PARAMETERS])
        else:
            predicate, order = _PADDED_PATH if found.graph is None else _graph_path(found.graph)
            cursor.execute(_VECTOR_SQL.format(scope=scope, predicate=predicate, order=order), params)
        hits, method = cursor.fetchall(), "hnsw"
        if len(hits) < limit:
            cursor.execute(_EXACT_VECTOR_SQL.format(scope=scope), params)
            hits, method = cursor.fetchall(), "exact"
    hits.sort(key=lambda hit: (-hit[1], hit[0]))  # relaxed order: re-sort
    return ScoredList(hits=hits, method=method)


# --- Search --------------------------------------------------------------------------------------------------------


@dataclass
class SearchResult:
    mode: str
    mode_used: str
    results: list[dict[str, Any]]
    query_terms: list[str]
    notes: list[str]
    timings_ms: dict[str, float]
    vector_method: str | None = None
    #: The fusion that ran (None unless hybrid ran with both lists).
    fusion: Fusion | None = None
    #: The two candidate lists, as fused (for the admin's console).
    text_list: ScoredList = field(default_factory=ScoredList)
    vector_list: ScoredList = field(default_factory=ScoredList)


# Prepared once per connection: planning it cost about as much as running it for ten ids (bench/search_bench.py).
_DOCUMENTS_PREPARED = PreparedStatement(
    "mcpadmin_search_documents",
    "SELECT id, external_id, content, metadata, model, agent_id, task_type, created_at FROM embeddings"
    " WHERE id = ANY($1) AND tenant_id = $2 AND collection = $3",
    param_types=["uuid[]", "uuid", "text"],
)


def documents_by_id(collection: Collection, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    with connection.cursor() as cursor:
        _DOCUMENTS_PREPARED.execute(cursor, [list(ids), collection.tenant_id, collection.name])
        names = [column.name for column in cursor.description]
        rows = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    for row in rows.values():  # raw cursors return jsonb as text
        if isinstance(row["metadata"], str):
            row["metadata"] = json.loads(row["metadata"])
    return rows


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def search(
    *,
    collection: Collection,
    mode: str,
    query: str | None,
    query_embedding: list[float] | None,
    model: str | None,
    k: int,
    filters: DocumentFilters,
    rrf_k: int = 60,
    candidates: int = 100,
    fusion: str = DEFAULT_FUSION,
    weights: dict[str, float] | None = None,
) -> SearchResult:
    """BM25, vector or hybrid search of one collection; `candidates` per list in hybrid mode.

    Hybrid fuses the lists by `fusion` (search/fusion.py) with `weights` per list (`bm25`, `vector`; 1 each).
    """
    problems = fusion_problems(fusion, weights or {})
    if problems:
        raise DomainError("invalid", " ".join(next(iter(problems.values()))), problems)
    fusion_used = Fusion(
        method=fusion,
        bm25_weight=float((weights or {}).get("bm25", 1.0)),
        vector_weight=float((weights or {}).get("vector", 1.0)),
        rrf_k=rrf_k,
    )
    started = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []
    if query_embedding is None and query and mode in ("hybrid", "vector"):
        embedder = local_embedder()
        if embedder is not None and model in (None, embedder.model_name):
            step = time.perf_counter()
            query_embedding, model = embedder.embed(query), embedder.model_name
            timings["embed"] = _ms(step)
            notes.append(f"The query was embedded server-side with {embedder.model_name}.")
    if mode == "vector" and query_embedding is None:
        raise DomainError(
            "invalid",
            "A vector search needs query_embedding (no local embedder is configured for this model).",
            {"query_embedding": ["required for mode 'vector'"]},
        )
    if mode == "bm25" and not query:
        raise DomainError("invalid", "A BM25 search needs a query.", {"query": ["required for mode 'bm25'"]})
    if query_embedding is not None and not model:
        raise DomainError(
            "invalid", "A search by vector names its model.", {"model": ["required with query_embedding"]}
        )

    use_text = mode in ("bm25", "hybrid") and bool(query)
    use_vectors = mode in ("vector", "hybrid") and query_embedding is not None
    if mode == "hybrid" and not use_vectors:
        notes.append("No query_embedding and no local embedder for this model: hybrid search used BM25 alone.")
    if mode == "hybrid" and not use_text:
        notes.append("No query text: hybrid search used the vector list alone.")
    depth = candidates if mode == "hybrid" else k

    text = ScoredList()
    if use_text:
        step = time.perf_counter()
        text = bm25_search(collection=collection, query=query or "", limit=depth, filters=filters)
        timings["bm25"] = _ms(step)
        if not text.terms:
            notes.append("The query has no searchable terms (only stop words?): BM25 found nothing.")
    vectors = ScoredList()
    if use_vectors:
        step = time.perf_counter()
        vectors = vector_search(
            collection=collection, model=model or "", query_embedding=query_embedding or [], limit=depth,
            filters=filters,
        )  # fmt: skip
        timings["vector"] = _ms(step)
        if vectors.method == "none":
            notes.append(f"No document of model {model!r} in this collection.")

    step = time.perf_counter()
    mode_used = "hybrid" if use_text and use_vectors else ("bm25" if use_text else "vector")
    # One list alone keeps its own order (any fusion of one list is monotone in its scores).
    fused = fuse(text, vectors, fusion_used if mode_used == "hybrid" else Fusion(method="rrf", rrf_k=rrf_k))[:k]
    timings["fusion"] = _ms(step)

    step = time.perf_counter()
    rows = documents_by_id(collection, [hit.id for hit in fused])
    timings["fetch"] = _ms(step)
    results = []
    fused_both = mode_used == "hybrid"
    for hit in fused:
        row = rows.get(hit.id)
        if row is None:  # deleted between the lists and the fetch
            continue
        score = hit.score if mode_used == "hybrid" else (hit.bm25_score if use_text else hit.vector_score)
        results.append(
            {
                **row,
                "score": score,
                "fused_score": hit.score,
                "bm25": None
                if hit.bm25_rank is None
                else {
                    "rank": hit.bm25_rank,
                    "score": hit.bm25_score,
                    "normalized": hit.bm25_normalized if fused_both else None,
                },
                "vector": None
                if hit.vector_rank is None
                else {
                    "rank": hit.vector_rank,
                    "score": hit.vector_score,
                    "normalized": hit.vector_normalized if fused_both else None,
                },
            }
        )
    timings["total"] = _ms(started)
    metrics.SEARCH_DURATION.labels(mode=mode_used).observe(timings["total"] / 1000)
    return SearchResult(
        mode, mode_used, results, text.terms, notes, timings, vectors.method or None,
        fusion_used if mode_used == "hybrid" else None, text, vectors,
    )  # fmt: skip


# --- Statistics ----------------------------------------------------------------------------------------------------


def collection_statistics(collection: Collection, *, top_terms: int = 20) -> dict[str, Any]:
    """Exact figures from the side tables (one snapshot), and when the spec's row was last folded.

    A read: it does not fold. The figures include writes whose fold is still to come (the writer folds after
    it commits; `rebuild_search_stats` folds too), so they are exact while `embedding_statistics` may lag.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH terms AS (
                SELECT term, sum(document_count) AS document_count FROM search_term_stats
                 WHERE collection_id = %(c)s GROUP BY term HAVING sum(document_count) <> 0
            ), counters AS (
                SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(total_length), 0) AS total_length
                  FROM search_collection_counters WHERE collection_id = %(c)s
            ), top AS (
                SELECT term, document_count FROM terms ORDER BY document_count DESC, term LIMIT %(top)s
            )
            SELECT counters.documents, counters.total_length, (SELECT count(*) FROM terms), top.term,
                   top.document_count
              FROM counters LEFT JOIN top ON true
             ORDER BY top.document_count DESC, top.term
            """,
            {"c": collection.id, "top": top_terms},
        )
        rows = cursor.fetchall()
    documents, total_length, unique_terms = rows[0][:3]
    top = [(term, count) for _, _, _, term, count in rows if term is not None]
    folded = EmbeddingStatistics.objects.filter(collection_id=collection.statistics_id).first()
    return {
        "total_documents": int(documents),
        "total_length": int(total_length),
        "avg_document_length": (int(total_length) / int(documents)) if documents else 0.0,
        "unique_terms": int(unique_terms),
        "top_terms": [{"term": term, "document_count": count} for term, count in top],
        "models": vector_indexes.collection_models(collection.id),
        "statistics_id": collection.statistics_id,
        "statistics_last_updated": folded.last_updated if folded else None,
    }


_DERIVED_MISMATCHES_SQL = """
SELECT count(*) FROM embeddings e CROSS JOIN LATERAL mcp.search_analyze(%(config)s::regconfig, e.content) AS a
 WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s
   AND (e.content_tsvector IS DISTINCT FROM a.tsv OR e.term_frequencies IS DISTINCT FROM a.tf
        OR e.document_length IS DISTINCT FROM a.len
        OR e.content_hash IS DISTINCT FROM encode(sha256(convert_to(e.content, 'UTF8')), 'hex')
        OR e.dimension IS DISTINCT FROM vector_dims(e.embedding)
        OR e.normalized_embedding IS DISTINCT FROM
           CASE WHEN e.embedding IS NOT NULL THEN
               (l2_normalize(e.embedding)::real[]
                || array_fill(0::real, ARRAY[%(width)s - vector_dims(e.embedding)]))::vector
           END)
"""

_FOLDED_MISMATCH_SQL = """
WITH kept AS (
    SELECT coalesce(jsonb_object_agg(term, df), '{}'::jsonb) AS counts FROM (
        SELECT term, sum(document_count) AS df FROM search_term_stats WHERE collection_id = %(collection_id)s
         GROUP BY term HAVING sum(document_count) <> 0) AS t
), counters AS (
    SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(total_length), 0) AS total_length
      FROM search_collection_counters WHERE collection_id = %(collection_id)s
)
SELECT s.collection_id IS NULL, s.total_documents IS DISTINCT FROM counters.documents,
       s.avg_document_length IS DISTINCT FROM
           CASE WHEN counters.documents > 0 THEN counters.total_length::float8 / counters.documents ELSE 0 END,
       s.term_document_counts IS DISTINCT FROM kept.counts
  FROM kept CROSS JOIN counters LEFT JOIN embedding_statistics s ON s.collection_id = %(statistics_id)s
"""


def collection_stats_problems(collection: Collection) -> list[str]:
    """What differs between the collection's documents, its side tables and `embedding_statistics` (empty: exact).

    Read in one REPEATABLE READ snapshot, so concurrent writes cannot show up as differences.
    """
    params = collection_params(collection)
    problems = []
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(_DERIVED_MISMATCHES_SQL, params)
        derived = cursor.fetchone()[0]
        if derived:
            problems.append(f"{derived} documents have derived columns that differ from a fresh analysis")
        cursor.execute(STATISTICS_DIFF_SQL, params)
        terms = cursor.fetchall()
        if terms:
            sample = ", ".join(f"{term}: {fresh} vs {kept}" for term, fresh, kept in terms[:5])
            problems.append(f"{len(terms)} terms have a wrong document count (documents vs statistics: {sample})")
        cursor.execute(POSTINGS_DIFF_SQL, params)
        postings = cursor.fetchone()[0]
        if postings:
            problems.append(f"{postings} postings differ from the documents' term frequencies")
        cursor.execute(COUNTERS_DIFF_SQL, params)
        documents, total_length, kept_documents, kept_length = cursor.fetchone()
        if (documents, total_length) != (kept_documents, kept_length):
            problems.append(
                f"counters say {kept_documents} documents / length {kept_length}; "
                f"the documents: {documents} / {total_length}"
            )
        cursor.execute(_FOLDED_MISMATCH_SQL, params)
        missing, total, average, counts = cursor.fetchone()
        if missing or total or average or counts:
            problems.append("embedding_statistics differs from the side tables (not folded?)")
    return problems
