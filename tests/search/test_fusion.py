"""Hybrid search: the fusion equals `mcp.reciprocal_rank_fusion` applied to the two candidate lists."""

from __future__ import annotations

import random
import uuid

import pytest

from search.filters import DocumentFilters
from search.selectors import (
    ScoredList,
    bm25_search,
    collection_named,
    fusion_candidates,
    reciprocal_rank_fusion,
    search,
    vector_search,
)
from tests.search.helpers import corpus, ingest

pytestmark = pytest.mark.django_db


def sql_fusion(sql, text: ScoredList, vectors: ScoredList, rrf_k: int) -> list[tuple[uuid.UUID, float]]:
    candidates = fusion_candidates(text, vectors)
    text_scores, vector_scores = dict(text.hits), dict(vectors.hits)
    rows = sql(
        "SELECT idx, score FROM mcp.reciprocal_rank_fusion(%s::float8[], %s::float8[], %s)",
        [[vector_scores.get(c) for c in candidates], [text_scores.get(c) for c in candidates], rrf_k],
    )
    return [(candidates[idx - 1], score) for idx, score in rows]


def random_list(rng: random.Random, pool: list[uuid.UUID], size: int, levels: int) -> ScoredList:
    """Scores from a few levels only: many ties."""
    chosen = rng.sample(pool, size)
    hits = [(document_id, float(rng.randrange(levels))) for document_id in chosen]
    hits.sort(key=lambda hit: -hit[1])
    return ScoredList(hits=hits)


@pytest.mark.parametrize("seed", range(40))
def test_python_fusion_equals_the_sql_function_with_ties_and_absences(sql, seed):
    rng = random.Random(seed)
    pool = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(30)]
    text = random_list(rng, pool, rng.randint(0, 20), rng.choice((2, 3, 50)))
    vectors = random_list(rng, pool, rng.randint(0, 20), rng.choice((2, 3, 50)))
    rrf_k = rng.choice((0, 1, 60))
    fused = reciprocal_rank_fusion(text, vectors, rrf_k=max(rrf_k, 0))
    assert [(f.id, f.score) for f in fused] == sql_fusion(sql, text, vectors, rrf_k)  # exactly equal


def test_ranks_are_shared_by_equal_scores():
    ids = [uuid.UUID(int=i) for i in range(4)]
    text = ScoredList(hits=[(ids[0], 2.0), (ids[1], 1.0), (ids[2], 1.0), (ids[3], 0.5)])
    fused = {f.id: f for f in reciprocal_rank_fusion(text, ScoredList(), rrf_k=60)}
    assert [fused[i].bm25_rank for i in ids] == [1, 2, 2, 4]
    assert fused[ids[3]].score == 1 / 64


def test_hybrid_search_fuses_its_two_lists_exactly_as_the_sql_function(tenant, sql):
    documents = corpus(200, seed=11)
    ingest(tenant, "h", documents)
    collection = collection_named(tenant, "h")
    query_vector = documents[17].embedding
    filters = DocumentFilters()
    for query, k, candidates, rrf_k in (("boundary layer flow", 10, 100, 60), ("wing", 5, 20, 1), ("heat", 30, 30, 60)):
        text = bm25_search(collection=collection, query=query, limit=candidates, filters=filters)
        vectors = vector_search(
            collection=collection, model="test-model", query_embedding=query_vector, limit=candidates, filters=filters
        )
        result = search(
            collection=collection, mode="hybrid", query=query, query_embedding=query_vector, model="test-model", k=k,
            filters=filters, rrf_k=rrf_k, candidates=candidates,
        )  # fmt: skip
        assert result.mode_used == "hybrid"
        expected = sql_fusion(sql, text, vectors, rrf_k)[:k]
        assert [(r["id"], r["fused_score"]) for r in result.results] == expected
        for row in result.results:
            if row["bm25"]:
                assert row["bm25"]["score"] == dict(text.hits)[row["id"]]
            if row["vector"]:
                assert row["vector"]["score"] == dict(vectors.hits)[row["id"]]
        assert set(result.timings_ms) >= {"bm25", "vector", "fusion", "total"}


def test_hybrid_without_a_query_embedding_uses_bm25_alone_and_says_so(tenant):
    ingest(tenant, "h", corpus(30, seed=12))
    result = search(
        collection=collection_named(tenant, "h"), mode="hybrid", query="flow", query_embedding=None, model=None, k=5,
        filters=DocumentFilters(),
    )  # fmt: skip
    assert result.mode_used == "bm25"
    assert any("BM25 alone" in note for note in result.notes)
    assert result.results
    assert all(r["vector"] is None for r in result.results)
    assert [r["score"] for r in result.results] == [r["bm25"]["score"] for r in result.results]
