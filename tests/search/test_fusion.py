"""Hybrid search: each fusion equals its SQL function (`mcp.reciprocal_rank_fusion`, `mcp.score_fusion`) applied to
the two candidate lists, bit for bit."""

from __future__ import annotations

import random
import uuid

import pytest

from mcpadmin.core.errors import DomainError
from search.filters import DocumentFilters
from search.fusion import Fusion, ScoredList, fuse, fusion_candidates, reciprocal_rank_fusion
from search.selectors import bm25_search, collection_named, search, vector_search
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


def test_hybrid_search_with_rrf_fuses_its_two_lists_exactly_as_the_sql_function(tenant, sql):
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
            filters=filters, rrf_k=rrf_k, candidates=candidates, fusion="rrf",
        )  # fmt: skip
        assert result.mode_used == "hybrid"
        assert result.fusion == Fusion(method="rrf", rrf_k=rrf_k)
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


def sql_score_fusion(sql, text: ScoredList, vectors: ScoredList, fusion: Fusion) -> list[tuple]:
    """`mcp.score_fusion` over `fusion_candidates`: (id, score, bm25 normalised, vector normalised) best first."""
    candidates = fusion_candidates(text, vectors)
    text_scores, vector_scores = dict(text.hits), dict(vectors.hits)
    rows = sql(
        "SELECT idx, score, vector_normalized, text_normalized"
        "  FROM mcp.score_fusion(%s::float8[], %s::float8[], %s, %s, %s)",
        [
            [vector_scores.get(c) for c in candidates],
            [text_scores.get(c) for c in candidates],
            fusion.method,
            fusion.vector_weight,
            fusion.bm25_weight,
        ],
    )
    return [(candidates[idx - 1], score, text_norm, vector_norm) for idx, score, vector_norm, text_norm in rows]


def python_score_fusion(text: ScoredList, vectors: ScoredList, fusion: Fusion) -> list[tuple]:
    return [(f.id, f.score, f.bm25_normalized, f.vector_normalized) for f in fuse(text, vectors, fusion)]


def scored_list(rng: random.Random, pool: list[uuid.UUID], size: int, spread: float) -> ScoredList:
    """Continuous scores of any sign and scale, with some exact ties."""
    hits = [
        (document_id, round(rng.gauss(spread, spread), rng.choice((1, 3, 12))))
        for document_id in rng.sample(pool, size)
    ]
    hits.sort(key=lambda hit: -hit[1])
    return ScoredList(hits=hits)


@pytest.mark.parametrize("method", ["dbsf", "relative"])
@pytest.mark.parametrize("seed", range(25))
def test_score_fusion_in_python_equals_the_sql_function_bit_for_bit(sql, method, seed):
    rng = random.Random(seed)
    pool = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(120)]
    text = scored_list(rng, pool, rng.choice((0, 1, 2, 5, 60, 100)), rng.choice((0.01, 3.0, 25.0)))
    vectors = scored_list(rng, pool, rng.choice((0, 1, 2, 5, 60, 100)), rng.choice((0.01, 0.3)))
    weights = rng.choice(((1.0, 1.0), (0.3, 0.7), (0.0, 2.0), (5.0, 0.0)))
    fusion = Fusion(method=method, bm25_weight=weights[0], vector_weight=weights[1])
    assert python_score_fusion(text, vectors, fusion) == sql_score_fusion(sql, text, vectors, fusion)


def test_dbsf_maps_mean_plus_and_minus_three_deviations_to_one_and_zero():
    ids = [uuid.UUID(int=i) for i in range(1, 6)]
    # BM25 scores 1, 2, 3 (mean 2, sample sd 1: range [-1, 5]); cosines 0.5, 0.5 (equal: 0.5 each)
    text = ScoredList(hits=[(ids[2], 3.0), (ids[1], 2.0), (ids[0], 1.0)])
    vectors = ScoredList(hits=[(ids[3], 0.5), (ids[0], 0.5)])
    fused = {f.id: f for f in fuse(text, vectors, Fusion())}
    assert [fused[i].bm25_normalized for i in ids[:3]] == pytest.approx([2 / 6, 3 / 6, 4 / 6])
    assert fused[ids[3]].bm25_normalized is None
    assert fused[ids[0]].vector_normalized == fused[ids[3]].vector_normalized == 0.5
    assert fused[ids[0]].score == pytest.approx(0.5 + 2 / 6)  # in both lists
    assert [f.id for f in fuse(text, vectors, Fusion())] == [ids[0], ids[2], ids[1], ids[3]]


def test_relative_fusion_is_min_max_and_weights_scale_each_list():
    ids = [uuid.UUID(int=i) for i in range(1, 4)]
    text = ScoredList(hits=[(ids[0], 10.0), (ids[1], 4.0), (ids[2], 2.0)])
    vectors = ScoredList(hits=[(ids[2], 0.9), (ids[1], 0.8), (ids[0], 0.1)])
    fused = {f.id: f for f in fuse(text, vectors, Fusion(method="relative", bm25_weight=0.5, vector_weight=2.0))}
    assert fused[ids[1]].bm25_normalized == pytest.approx(0.25)
    assert fused[ids[1]].vector_normalized == pytest.approx(0.875)
    assert fused[ids[1]].score == pytest.approx(2.0 * 0.875 + 0.5 * 0.25)
    assert fused[ids[0]].score == pytest.approx(0.5)


def test_score_fusion_keeps_the_distance_that_rrf_throws_away():
    """One list far ahead on a document, the other barely: RRF calls it a tie, score fusion does not."""
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    others = [uuid.UUID(int=100 + i) for i in range(20)]
    text = ScoredList(hits=[(a, 30.0), (b, 2.0), *((o, 1.9 - i / 100) for i, o in enumerate(others))])  # a far ahead
    vectors = ScoredList(hits=[(b, 0.80), (a, 0.79), *((o, 0.5 - i / 100) for i, o in enumerate(others))])  # b barely
    rrf = reciprocal_rank_fusion(text, vectors, rrf_k=60)
    assert rrf[0].score == rrf[1].score  # 1/61 + 1/62 each
    assert fuse(text, vectors, Fusion())[0].id == a


def test_hybrid_search_fuses_by_dbsf_by_default_exactly_as_the_sql_function(tenant, sql):
    documents = corpus(200, seed=13)
    ingest(tenant, "h", documents)
    collection = collection_named(tenant, "h")
    query_vector = documents[40].embedding
    filters = DocumentFilters()
    for query, k, candidates, fusion, weights in (
        ("boundary layer flow", 10, 100, "dbsf", None),
        ("wing heat", 5, 20, "relative", {"bm25": 0.25}),
        ("shock", 30, 30, "dbsf", {"vector": 3.0, "bm25": 0.5}),
    ):
        text = bm25_search(collection=collection, query=query, limit=candidates, filters=filters)
        vectors = vector_search(
            collection=collection, model="test-model", query_embedding=query_vector, limit=candidates, filters=filters
        )
        options = {} if fusion == "dbsf" else {"fusion": fusion}
        result = search(
            collection=collection, mode="hybrid", query=query, query_embedding=query_vector, model="test-model", k=k,
            filters=filters, candidates=candidates, weights=weights, **options,
        )  # fmt: skip
        expected_fusion = Fusion(
            method=fusion,
            bm25_weight=(weights or {}).get("bm25", 1.0),
            vector_weight=(weights or {}).get("vector", 1.0),
        )
        assert result.fusion == expected_fusion
        got = [
            (r["id"], r["fused_score"], (r["bm25"] or {}).get("normalized"), (r["vector"] or {}).get("normalized"))
            for r in result.results
        ]
        assert got == sql_score_fusion(sql, text, vectors, expected_fusion)[:k]
        assert [r["score"] for r in result.results] == [r["fused_score"] for r in result.results]


def test_a_single_list_keeps_its_order_and_reports_no_fusion(tenant):
    ingest(tenant, "h", corpus(50, seed=14))
    collection = collection_named(tenant, "h")
    result = search(
        collection=collection, mode="bm25", query="flow wing", query_embedding=None, model=None, k=10,
        filters=DocumentFilters(), fusion="relative",
    )  # fmt: skip
    assert result.fusion is None
    scores = [r["score"] for r in result.results]
    assert scores
    assert scores == sorted(scores, reverse=True)
    assert all(r["bm25"]["normalized"] is None for r in result.results)


@pytest.mark.parametrize(
    ("fusion", "weights", "field"),
    [
        ("borda", None, "fusion"),
        ("dbsf", {"bm25": -1.0}, "weights.bm25"),
        ("dbsf", {"bm25": float("nan")}, "weights.bm25"),
        ("dbsf", {"vector": float("inf")}, "weights.vector"),
        ("dbsf", {"title": 1.0}, "weights.title"),
        ("relative", {"bm25": 0, "vector": 0.0}, "weights"),
    ],
)
def test_the_selector_refuses_a_bad_fusion_naming_the_field(tenant, fusion, weights, field):
    ingest(tenant, "h", corpus(5, seed=15))
    with pytest.raises(DomainError) as error:
        search(
            collection=collection_named(tenant, "h"), mode="hybrid", query="flow", query_embedding=None, model=None,
            k=5, filters=DocumentFilters(), fusion=fusion, weights=weights,
        )  # fmt: skip
    assert field in error.value.details
