"""Vector search: cosine on normalized vectors, full k under selective filters, tenants and models kept apart."""

from __future__ import annotations

import math
import random

import pytest

from mcpadmin.core.errors import DomainError
from search import selectors
from search.filters import DocumentFilters
from search.selectors import collection_named, vector_search
from search.services import DocumentInput, documents_ingest
from tests.factories import service_tenant
from tests.search.helpers import OPERATOR, ingest

pytestmark = pytest.mark.django_db
DIMENSIONS = 16


def random_vector(rng: random.Random, dimensions: int = DIMENSIONS) -> list[float]:
    return [rng.gauss(0, 1) for _ in range(dimensions)]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


def vector_documents(
    count: int, seed: int, *, rare_every: int = 0, model: str = "m", dimensions: int = DIMENSIONS
) -> list[DocumentInput]:
    rng = random.Random(seed)
    return [
        DocumentInput(
            content=f"document {seed} {i}",
            model=model,
            embedding=random_vector(rng, dimensions),
            external_id=f"{seed}-{i}",
            metadata={"rare": bool(rare_every) and i % rare_every == 0, "i": i},
        )
        for i in range(count)
    ]


def test_scores_are_cosine_similarities_best_first(tenant, sql):
    # HNSW is approximate: compare the exact path with the exact answer. (A filter: the statement without
    # filters is prepared once per connection, and a cached plan ignores enable_indexscan.)
    sql("SET LOCAL enable_indexscan = off")
    documents = vector_documents(50, 1)
    ids = ingest(tenant, "v", documents)
    query = random_vector(random.Random(99))
    result = vector_search(
        collection=collection_named(tenant, "v"),
        model="m",
        query_embedding=query,
        limit=10,
        filters=DocumentFilters(model="m"),  # holds for every document
    )
    expected = sorted(((cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True)), reverse=True)
    assert [i for i, _ in result.hits] == [i for _, i in expected[:10]]
    assert [s for _, s in result.hits] == pytest.approx([s for s, _ in expected[:10]], abs=1e-6)
    sql("RESET enable_indexscan")


def test_normalized_embedding_is_the_unit_vector_zero_padded(tenant, sql):
    documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="v",
        documents=[DocumentInput(content="x", model="m", embedding=[3.0, 4.0])],
    )
    ((raw, dimension, head, tail, norm),) = sql(
        "SELECT embedding::text, dimension, subvector(normalized_embedding, 1, 2)::text, "
        "subvector(normalized_embedding, 3, 1534) = array_fill(0::real, ARRAY[1534])::vector, "
        "vector_norm(normalized_embedding) FROM embeddings WHERE tenant_id = %s",
        [tenant.id],
    )
    assert raw == "[3,4]"
    assert dimension == 2
    assert head == "[0.6,0.8]"
    assert tail is True
    assert norm == pytest.approx(1.0)


def test_full_k_under_a_selective_filter_with_iterative_scans(tenant, hnsw_only, monkeypatch):
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", 0)  # as when more documents pass the filter
    ingest(tenant, "v", vector_documents(600, 2, rare_every=50))  # 12 rare documents among 600
    result = vector_search(
        collection=collection_named(tenant, "v"),
        model="m",
        query_embedding=random_vector(random.Random(5)),
        limit=10,
        filters=DocumentFilters(metadata={"rare": True}),
    )
    assert result.method == "hnsw"
    assert len(result.hits) == 10
    scores = [s for _, s in result.hits]
    assert scores == sorted(scores, reverse=True)  # relaxed order, re-sorted


def test_full_k_when_the_index_scan_falls_short_falls_back_to_an_exact_scan(tenant, hnsw_only, monkeypatch):
    """Without iterative scans (pgvector < 0.8) HNSW returns ef_search candidates and filters them: too few."""
    monkeypatch.setattr(selectors, "_iterative_scans_available", lambda: False)
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", 0)
    documents = vector_documents(600, 3, rare_every=50)
    ids = ingest(tenant, "v", documents)
    query = random_vector(random.Random(6))
    result = vector_search(
        collection=collection_named(tenant, "v"),
        model="m",
        query_embedding=query,
        limit=10,
        filters=DocumentFilters(metadata={"rare": True}),
    )
    rare = [(cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True) if d.metadata["rare"]]
    assert result.method == "exact"
    assert [i for i, _ in result.hits] == [i for _, i in sorted(rare, reverse=True)[:10]]


@pytest.mark.parametrize("cap", [2000, 0])
def test_a_selective_filter_is_answered_exactly_when_few_documents_pass_it(tenant, monkeypatch, cap):
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", cap)
    documents = vector_documents(300, 11, rare_every=25)
    ids = ingest(tenant, "v", documents)
    query = random_vector(random.Random(12))
    result = vector_search(
        collection=collection_named(tenant, "v"),
        model="m",
        query_embedding=query,
        limit=5,
        filters=DocumentFilters(metadata={"rare": True}),
    )
    rare = [(cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True) if d.metadata["rare"]]
    expected = sorted(rare, reverse=True)[:5]
    if cap:
        assert result.method == "exact"  # 12 documents pass the filter: compared one by one, exactly
        assert [i for i, _ in result.hits] == [i for _, i in expected]
        assert [s for _, s in result.hits] == pytest.approx([s for s, _ in expected], abs=1e-6)
    else:
        assert len(result.hits) == 5


def test_fewer_matches_than_k_returns_them_all(tenant):
    ingest(tenant, "v", vector_documents(60, 4, rare_every=20))
    result = vector_search(
        collection=collection_named(tenant, "v"),
        model="m",
        query_embedding=random_vector(random.Random(1)),
        limit=10,
        filters=DocumentFilters(metadata={"rare": True}),
    )
    assert len(result.hits) == 3


def test_other_tenants_never_appear_whatever_the_filters(tenant, hnsw_only):
    other = service_tenant()
    query = random_vector(random.Random(7))
    # the other tenant's collection of the same name holds the exact query vector, many times
    ingest(
        other,
        "v",
        [DocumentInput(content=f"o{i}", model="m", embedding=query, metadata={"rare": True}) for i in range(50)],
    )
    ids = set(ingest(tenant, "v", vector_documents(200, 5, rare_every=40)))
    mine = collection_named(tenant, "v")
    for filters in (DocumentFilters(), DocumentFilters(metadata={"rare": True}), DocumentFilters(metadata={})):
        result = vector_search(collection=mine, model="m", query_embedding=query, limit=100, filters=filters)
        assert result.hits
        assert {i for i, _ in result.hits} <= ids


def test_vectors_of_different_models_are_never_compared(tenant):
    rng = random.Random(8)
    query = random_vector(rng)
    ingest(tenant, "v", [DocumentInput(content="a", model="model-a", embedding=query)])
    ingest(
        tenant, "v", [DocumentInput(content=f"b{i}", model="model-b", embedding=random_vector(rng)) for i in range(5)]
    )
    target = collection_named(tenant, "v")
    hits_b = vector_search(
        collection=target, model="model-b", query_embedding=query, limit=10, filters=DocumentFilters()
    )
    assert len(hits_b.hits) == 5
    hits_c = vector_search(
        collection=target, model="model-c", query_embedding=query, limit=10, filters=DocumentFilters()
    )
    assert hits_c.hits == []
    assert hits_c.method == "none"


def test_a_query_of_another_dimension_than_the_models_is_refused(tenant):
    ingest(tenant, "v", vector_documents(3, 9))
    with pytest.raises(DomainError) as refused:
        vector_search(
            collection=collection_named(tenant, "v"),
            model="m",
            query_embedding=[1.0, 2.0],
            limit=5,
            filters=DocumentFilters(),
        )
    assert "query_embedding" in refused.value.details


@pytest.mark.parametrize("bad", [[float("nan"), 1.0], [float("inf"), 1.0], [0.0, 0.0], [1.0] * 1537])
def test_bad_query_vectors_are_refused(tenant, bad):
    ingest(tenant, "v", vector_documents(3, 10))
    with pytest.raises(DomainError):
        vector_search(
            collection=collection_named(tenant, "v"), model="m", query_embedding=bad, limit=5, filters=DocumentFilters()
        )


@pytest.mark.parametrize("cap", [2000, 99])
def test_a_small_collection_is_compared_exactly_and_a_large_one_walks_the_graph(tenant, other_tenant, monkeypatch, cap):
    """The collection's own size decides (another tenant's documents in the same graph do not)."""
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", cap)
    ingest(other_tenant, "v", vector_documents(300, 21))
    documents = vector_documents(100, 22)
    ids = ingest(tenant, "v", documents)
    query = random_vector(random.Random(23))
    result = vector_search(
        collection=collection_named(tenant, "v"), model="m", query_embedding=query, limit=10, filters=DocumentFilters()
    )
    exact = sorted(((cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True)), reverse=True)[:10]
    assert result.method == ("exact" if cap >= 100 else "hnsw")
    assert len(result.hits) == 10
    if result.method == "exact":
        assert [i for i, _ in result.hits] == [i for _, i in exact]
        assert [s for _, s in result.hits] == pytest.approx([s for s, _ in exact], abs=1e-6)
    else:
        assert len({i for i, _ in result.hits} & {i for _, i in exact}) >= 8
