"""The HNSW index of each dimension: common dimensions have their own on the raw vector, others share the padded one."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search import selectors, vector_indexes
from search.filters import DocumentFilters
from search.models import NATIVE_INDEX_DIMENSIONS
from search.selectors import collection_named, vector_search
from search.services import DocumentInput
from tests.factories import service_tenant
from tests.search.helpers import ingest
from tests.search.test_vector import cosine, random_vector, vector_documents

pytestmark = pytest.mark.django_db


def hnsw_indexes(sql) -> dict[str, str]:
    return dict(sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'embeddings' AND indexdef ~ 'hnsw'"))


def test_the_database_has_the_indexes_the_searches_are_written_for(sql):
    """The migration's frozen SQL and search/vector_indexes.py describe the same indexes (same definitions)."""
    migrated = hnsw_indexes(sql)
    assert sorted(migrated) == sorted(vector_indexes.all_index_names())
    for name in migrated:
        sql(f"DROP INDEX {name}")
    for statement in vector_indexes.all_create_sql():
        sql(statement)
    assert hnsw_indexes(sql) == migrated  # the test's transaction rolls the swap back


@pytest.mark.parametrize(
    ("dimensions", "index"), [(384, "idx_embeddings_hnsw_384"), (16, "idx_embeddings_normalized_hnsw")]
)
def test_a_search_walks_the_index_of_its_dimension(tenant, hnsw_only, monkeypatch, sql, dimensions, index):
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", 0)  # the filtered statement is not prepared: it can be explained
    ingest(tenant, "v", vector_documents(40, 1, dimensions=dimensions))
    query = random_vector(random.Random(2), dimensions)
    with CaptureQueriesContext(connection) as queries:
        result = vector_search(
            collection=collection_named(tenant, "v"), model="m", query_embedding=query, limit=5,
            filters=DocumentFilters(model="m"),  # a filter that holds for every document
        )  # fmt: skip
    assert result.method == "hnsw"
    assert len(result.hits) == 5
    (statement,) = [q["sql"] for q in queries.captured_queries if "ORDER BY e." in q["sql"]]
    plan = "\n".join(row[0] for row in sql(f"EXPLAIN {statement}"))
    assert f"Index Scan using {index}" in plan, plan


@pytest.mark.parametrize("dimensions", NATIVE_INDEX_DIMENSIONS)
def test_every_common_dimension_finds_its_nearest_documents_through_its_index(
    tenant, hnsw_only, sql, monkeypatch, dimensions
):
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", 0)  # as in a collection too large to compare one by one
    documents = vector_documents(60, dimensions, dimensions=dimensions)
    ids = ingest(tenant, "v", documents)
    query = random_vector(random.Random(3), dimensions)
    result = vector_search(
        collection=collection_named(tenant, "v"), model="m", query_embedding=query, limit=10, filters=DocumentFilters()
    )
    exact = sorted(((cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True)), reverse=True)[:10]
    assert result.method == "hnsw"
    assert len(result.hits) == 10
    assert len({i for i, _ in result.hits} & {i for _, i in exact}) >= 9, "a 60-element graph is all but exact"
    scores = dict(result.hits)
    for score, document_id in exact:
        if document_id in scores:
            assert scores[document_id] == pytest.approx(score, abs=1e-6)


def test_models_of_one_dimension_share_the_index_but_are_never_compared(tenant, hnsw_only):
    rng = random.Random(4)
    query = random_vector(rng, 384)
    ingest(tenant, "v", [DocumentInput(content=f"a{i}", model="model-a", embedding=query) for i in range(20)])
    b = set(ingest(tenant, "v", vector_documents(8, 5, model="model-b", dimensions=384)))
    other = service_tenant()
    ingest(other, "v", [DocumentInput(content=f"o{i}", model="model-b", embedding=query) for i in range(20)])
    result = vector_search(
        collection=collection_named(tenant, "v"), model="model-b", query_embedding=query, limit=10,
        filters=DocumentFilters(),
    )  # fmt: skip
    assert {i for i, _ in result.hits} == b, "all of model-b's 8 (full k where k exist), none of model-a's or theirs"
