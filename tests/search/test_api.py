"""The search API: key types, tenants, and bad input answered with 4xx JSON naming what is wrong."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search.models import Embedding, EmbeddingStatistics
from tests.api_cases import error_of
from tests.factories import client_for, issued_key, service_tenant
from tests.search.helpers import search_writes

pytestmark = pytest.mark.django_db

DOCUMENTS = [
    {"external_id": "a", "content": "Boundary layer flow over a flat plate", "model": "m", "embedding": [1, 0, 0]},
    {"external_id": "b", "content": "Supersonic flow and shock waves", "model": "m", "embedding": [0, 1, 0]},
    {"content": "Heat transfer in turbulent flow", "model": "m", "embedding": [0, 0, 1], "metadata": {"lang": "en"}},
]


def ingest(client, documents=DOCUMENTS, collection="papers"):
    return client.post(f"/api/v1/collections/{collection}/documents", {"documents": documents}, format="json")


def search(client, **body):
    return client.post("/api/v1/search", {"collection": "papers", **body}, format="json")


@pytest.fixture
def papers(admin_api, django_capture_on_commit_callbacks):
    # The test's transaction never commits: run the fold the write schedules after its commit, as in production.
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(admin_api).status_code == 200
    return admin_api


def test_ingest_upserts_and_reports_each_document(admin_api):
    first = ingest(admin_api)
    assert first.status_code == 200
    assert first.json()["created"] == 3
    again = ingest(admin_api)
    assert again.json() == {**first.json(), "created": 0, "updated": 3, "documents": [
        {**d, "created": False} for d in first.json()["documents"]
    ]}  # fmt: skip


def test_hybrid_search_returns_ranks_scores_and_timings(papers):
    response = search(papers, query="flow plate", query_embedding=[1, 0.1, 0], model="m", k=2)
    assert response.status_code == 200
    body = response.json()
    assert body["mode_used"] == "hybrid"
    assert body["query_terms"] == ["flow", "plate"]
    top = body["results"][0]
    assert top["external_id"] == "a"
    assert top["bm25"]["rank"] == 1
    assert top["vector"]["rank"] == 1
    assert body["fusion"] == {"method": "dbsf", "weights": {"bm25": 1.0, "vector": 1.0}, "rrf_k": None}
    for hit in body["results"]:  # equal weights: the fused score is the sum of the normalised scores
        assert hit["score"] == pytest.approx(hit["bm25"]["normalized"] + hit["vector"]["normalized"])
    assert 0.5 < top["bm25"]["normalized"] < 1
    assert len(body["results"]) == 2
    assert body["timings_ms"]["total"] > 0


def test_hybrid_search_with_rrf_and_weights(papers):
    body = search(papers, query="flow plate", query_embedding=[1, 0.1, 0], model="m", k=2, fusion="rrf").json()
    assert body["fusion"] == {"method": "rrf", "weights": {"bm25": 1.0, "vector": 1.0}, "rrf_k": 60}
    top = body["results"][0]
    assert top["score"] == pytest.approx(2 / 61)
    assert top["bm25"]["normalized"] == top["vector"]["normalized"] == pytest.approx(1 / 61)
    weighted = search(
        papers, query="flow plate", query_embedding=[1, 0.1, 0], model="m", fusion="relative",
        weights={"vector": 0.25},
    ).json()  # fmt: skip
    assert weighted["fusion"]["weights"] == {"bm25": 1.0, "vector": 0.25}
    top = weighted["results"][0]
    assert top["bm25"]["normalized"] == top["vector"]["normalized"] == 1.0  # best of each list under min-max
    assert top["score"] == 1.25
    assert weighted["results"][-1]["vector"]["normalized"] == 0.0


def test_a_single_list_search_reports_no_fusion(papers):
    body = search(papers, query="flow", mode="bm25", fusion="relative").json()
    assert body["fusion"] is None
    assert all(hit["bm25"]["normalized"] is None for hit in body["results"])


def test_hybrid_without_an_embedding_says_it_used_bm25(papers):
    body = search(papers, query="shock").json()
    assert body["mode_used"] == "bm25"
    assert body["notes"]
    assert [r["external_id"] for r in body["results"]] == ["b"]


def test_stop_words_only_is_an_empty_result_not_an_error(papers):
    response = search(papers, query="the of and", mode="bm25")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_filters(papers):
    body = search(papers, query="flow", mode="bm25", filters={"metadata": {"lang": "en"}}).json()
    assert [r["content"] for r in body["results"]] == ["Heat transfer in turbulent flow"]
    assert (
        search(papers, query="flow", mode="bm25", filters={"created_before": "2000-01-01T00:00:00Z"}).json()["results"]
        == []
    )


@pytest.mark.parametrize(
    ("key_type", "ingest_status", "search_status", "delete_status"),
    [
        ("admin", 200, 200, 200),
        ("service", 200, 200, 200),
        ("gateway", 200, 200, 200),
        ("agent", 200, 200, 200),
        ("user", 403, 200, 403),
    ],
)
def test_key_types(papers, tenant, key_type, ingest_status, search_status, delete_status):
    client = client_for(issued_key(tenant, key_type).raw_key)
    assert ingest(client, [{"content": "more flow", "model": "m"}]).status_code == ingest_status
    assert search(client, query="flow").status_code == search_status
    assert client.get("/api/v1/collections/papers").status_code == 200
    assert client.delete("/api/v1/collections/papers/documents?external_id=a").status_code == delete_status


def test_an_agent_key_ingests_as_its_agent(tenant):
    issued = issued_key(tenant, "agent")
    client = client_for(issued.raw_key)
    assert ingest(client, [{"content": "notes", "model": "m"}]).status_code == 200
    assert Embedding.objects.get(tenant=tenant).agent_id == str(issued.key.agent_id)


def test_other_tenants_collections_are_404_and_their_documents_never_appear(papers, tenant):
    other = service_tenant()
    stranger = client_for(issued_key(other, "admin").raw_key)
    assert stranger.get("/api/v1/collections/papers").status_code == 404
    assert error_of(search(stranger, query="flow"))["code"] == "not_found"
    assert stranger.delete("/api/v1/collections/papers/documents?external_id=a").status_code == 404
    document = Embedding.objects.filter(tenant=tenant).first()
    assert stranger.get(f"/api/v1/collections/papers/documents/{document.id}").status_code == 404
    assert stranger.delete(f"/api/v1/collections/papers/documents/{document.id}").status_code == 404
    # the stranger's own "papers": a different collection with its own statistics
    assert ingest(stranger, [{"content": "flow flow flow", "model": "m"}]).status_code == 200
    results = search(stranger, query="flow").json()["results"]
    assert [r["content"] for r in results] == ["flow flow flow"]
    assert stranger.get("/api/v1/collections/papers").json()["total_documents"] == 1
    assert papers.get("/api/v1/collections/papers").json()["total_documents"] == 3


def test_collection_statistics(papers):
    body = papers.get("/api/v1/collections/papers").json()
    assert body["total_documents"] == 3
    assert body["total_length"] == 13
    assert body["avg_document_length"] == pytest.approx(13 / 3)
    assert body["top_terms"][0] == {"term": "flow", "document_count": 3}
    assert body["models"] == [{"model": "m", "dimension": 3, "vector_search": "exact"}]
    assert body["statistics_last_updated"]
    listing = papers.get("/api/v1/collections").json()
    assert [c["name"] for c in listing["results"]] == ["papers"]


def test_create_a_collection_explicitly(admin_api, tenant):
    from tests.factories import workspace

    space = workspace(tenant)
    made = admin_api.post(
        "/api/v1/collections",
        {"name": "fr", "text_search_config": "french", "workspace_id": str(space.id)},
        format="json",
    )
    assert made.status_code == 201
    assert made.json()["workspace_id"] == str(space.id)
    assert error_of(admin_api.post("/api/v1/collections", {"name": "fr"}, format="json"))["code"] == "collection_exists"
    bad = admin_api.post("/api/v1/collections", {"name": "x", "text_search_config": "nope"}, format="json")
    assert bad.status_code == 400
    assert "text_search_config" in error_of(bad)["details"]
    other_space = workspace(service_tenant())
    foreign = admin_api.post("/api/v1/collections", {"name": "y", "workspace_id": str(other_space.id)}, format="json")
    assert foreign.status_code == 400


def test_delete_one_document_and_by_filter(papers):
    ids = [d["id"] for d in ingest(papers).json()["documents"]]
    one = papers.delete(f"/api/v1/collections/papers/documents/{ids[0]}")
    assert one.json() == {"deleted": 1, "ids": [ids[0]]}
    assert papers.get(f"/api/v1/collections/papers/documents/{ids[0]}").status_code == 404
    by_filter = papers.delete("/api/v1/collections/papers/documents?metadata=" + json.dumps({"lang": "en"}))
    assert by_filter.json()["deleted"] == 1
    assert papers.get("/api/v1/collections/papers").json()["total_documents"] == 1
    assert error_of(papers.delete("/api/v1/collections/papers/documents"))["details"] == {
        "filters": ["at least one filter"]
    }
    # Issue 13, finding 7: an empty metadata object matches every document; it is no filter.
    assert error_of(papers.delete("/api/v1/collections/papers/documents?metadata={}")) == (400, "invalid", ["filters"])
    assert papers.get("/api/v1/collections/papers").json()["total_documents"] == 1
    assert "bogus" in error_of(papers.delete("/api/v1/collections/papers/documents?bogus=1"))["details"]
    assert "metadata" in error_of(papers.delete("/api/v1/collections/papers/documents?metadata={oops"))["details"]


def raw_post(client, url, body: str):
    return client.generic("POST", url, body, content_type="application/json")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ('{"content": "x", "model": "m", "embedding": [NaN, 1]}', "embedding"),
        ('{"content": "x", "model": "m", "embedding": [Infinity, 1]}', "embedding"),
        ('{"content": "x", "model": "m", "embedding": [1e999, 1]}', "embedding"),
        ('{"content": "x", "model": "m", "embedding": [0, 0, 0]}', "embedding"),
        ('{"content": "x", "model": "m", "embedding": [1, "a"]}', "embedding"),
        ('{"content": "x", "model": "m", "embedding": [1, 2]}', "embedding"),  # the collection's model has 3
        ('{"content": "x", "model": "m", "metadata": {"x": NaN}}', "metadata"),
        ('{"content": "   ", "model": "m"}', "content"),
        ('{"content": "", "model": "m"}', "content"),
        ('{"content": "x"}', "model"),
        ('{"content": "x", "model": "m", "cost_usd": "NaN"}', "cost_usd"),
        ('{"content": "x", "model": "m", "generation_time_ms": -1}', "generation_time_ms"),
        ('{"content": "x", "model": "m", "tenant": "t"}', "tenant"),
    ],
)
def test_a_bad_document_is_a_400_naming_its_index_and_field(papers, tenant, item, field):
    before = Embedding.objects.filter(tenant=tenant).count()
    body = '{"documents": [{"content": "fine", "model": "m"}, ' + item + "]}"
    response = raw_post(papers, "/api/v1/collections/papers/documents", body)
    assert response.status_code == 400
    details = error_of(response)["details"]
    assert field in details["documents"]["1"]
    assert Embedding.objects.filter(tenant=tenant).count() == before  # nothing written


def test_identifiers_are_stored_as_given_not_trimmed(admin_api, tenant):
    """external_id, model, agent_id and task_type are opaque keys: " a " is not "a" (the schema allows both)."""
    document = {"content": "x", "model": " m ", "external_id": " ", "agent_id": "a ", "task_type": " t"}
    response = ingest(admin_api, [document], collection="keys")
    assert response.status_code == 200, response.content
    stored = Embedding.objects.get(tenant=tenant, collection="keys")
    assert (stored.model, stored.external_id, stored.agent_id, stored.task_type) == (" m ", " ", "a ", " t")


def test_too_many_dimensions_is_refused(admin_api):
    response = ingest(admin_api, [{"content": "x", "model": "big", "embedding": [0.5] * 1537}], collection="c")
    assert response.status_code == 400
    assert "1536" in str(error_of(response)["details"])
    assert (
        ingest(admin_api, [{"content": "x", "model": "big", "embedding": [0.5] * 1536}], collection="c").status_code
        == 200
    )


def test_batch_limits_name_the_limit(admin_api):
    too_many = ingest(admin_api, [{"content": f"d{i}", "model": "m"} for i in range(1001)], collection="c")
    assert too_many.status_code == 400
    assert "1000" in str(error_of(too_many)["details"])
    huge = json.dumps({"documents": [{"content": "x" * (10 * 1024 * 1024), "model": "m"}]})
    too_big = raw_post(admin_api, "/api/v1/collections/c/documents", huge)
    assert too_big.status_code == 413
    error = error_of(too_big)
    assert error["code"] == "payload_too_large"
    assert error["details"]["limit_bytes"] == 10 * 1024 * 1024


def test_a_body_just_under_10_mb_is_accepted(admin_api):
    long_words = " ".join(f"{i:04d}" + "x" * 996 for i in range(975))  # 975 tokens of 1,000 characters
    documents = [{"content": long_words, "model": "m", "external_id": str(i)} for i in range(10)]
    body = json.dumps({"documents": documents})
    assert 9 * 1024 * 1024 < len(body) < 10 * 1024 * 1024
    assert raw_post(admin_api, "/api/v1/collections/c/documents", body).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 101}, "k"),
        ({"query": "x", "k": 20, "candidates": 10}, "candidates"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({}, "query"),
        ({"query": "x", "mode": "vector"}, "query_embedding"),
        ({"query_embedding": [1, 0, 0]}, "model"),
        ({"query_embedding": [1, 0], "model": "m"}, "query_embedding"),
        ({"query": "x", "filters": {"colour": "red"}}, "filters"),
        ({"query": "x", "rrf_k": 0}, "rrf_k"),
        ({"query": "x", "fusion": "borda"}, "fusion"),
        ({"query": "x", "fusion": ""}, "fusion"),
        ({"query": "x", "fusion": None}, "fusion"),
        ({"query": "x", "weights": {"bm25": -1}}, "weights"),
        ({"query": "x", "weights": {"bm25": "1"}}, "weights"),
        ({"query": "x", "weights": {"vector": True}}, "weights"),
        ({"query": "x", "weights": {"title": 1}}, "weights"),
        ({"query": "x", "weights": {"bm25": 0, "vector": 0}}, "weights"),
        ({"query": "x", "weights": [1, 1]}, "weights"),
        ({"query": "x", "weights": 2}, "weights"),
        ({"query": "x", "tenant": "other"}, "tenant"),
    ],
)
def test_bad_searches_are_400_naming_the_field(papers, body, field):
    response = search(papers, **body)
    assert response.status_code == 400
    assert field in error_of(response)["details"]


@pytest.mark.parametrize(
    ("weights", "field"),
    [('{"bm25": NaN}', "bm25"), ('{"vector": Infinity}', "vector"), ('{"bm25": 1e999}', "bm25"),
     ('{"bm25": -0.5}', "bm25"), ('{"bm2": 1}', "bm2")],
)  # fmt: skip
def test_a_bad_weight_is_a_400_naming_it(papers, weights, field):
    body = '{"collection": "papers", "query": "flow", "weights": ' + weights + "}"
    response = raw_post(papers, "/api/v1/search", body)
    assert response.status_code == 400
    assert field in error_of(response)["details"]["weights"]


def test_nan_in_a_query_embedding_is_a_400(papers):
    response = raw_post(
        papers, "/api/v1/search", '{"collection": "papers", "query_embedding": [NaN, 0, 0], "model": "m"}'
    )
    assert response.status_code == 400
    assert "query_embedding" in error_of(response)["details"]


def test_unknown_collection_is_404(admin_api):
    assert search(admin_api, query="x").status_code == 404
    assert admin_api.get("/api/v1/collections/none").status_code == 404


def test_reads_write_nothing_even_when_the_fold_lags(admin_api, tenant):
    """The write's fold runs after its commit, which a test's transaction never reaches: the fold lags here."""
    ids = [d["id"] for d in ingest(admin_api).json()["documents"]]
    with CaptureQueriesContext(connection) as captured:
        detail = admin_api.get("/api/v1/collections/papers")
        listed = admin_api.get("/api/v1/collections")
        document = admin_api.get(f"/api/v1/collections/papers/documents/{ids[0]}")
        found = search(admin_api, query="flow", mode="bm25")
    assert [r.status_code for r in (detail, listed, document, found)] == [200, 200, 200, 200]
    assert search_writes(captured.captured_queries) == []
    assert detail.json()["total_documents"] == 3, "exact from the side tables, whatever the fold's lag"
    assert detail.json()["statistics_last_updated"] is None, "never folded, and the read did not fold"
    assert not EmbeddingStatistics.objects.filter(collection_id=detail.json()["statistics_id"]).exists()
    assert len(found.json()["results"]) == 3


def test_the_write_folds_after_it_commits(admin_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(admin_api).status_code == 200
    statistics_id = admin_api.get("/api/v1/collections/papers").json()["statistics_id"]
    assert EmbeddingStatistics.objects.get(collection_id=statistics_id).total_documents == 3
