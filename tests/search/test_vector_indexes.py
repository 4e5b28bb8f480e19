"""Collection graphs: a collection's model past the threshold gets an HNSW index of its own, which its searches walk;
the padded index keeps the uncommon dimensions of the others."""

from __future__ import annotations

import json
import random
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from search import selectors, vector_indexes
from search.filters import DocumentFilters
from search.models import NATIVE_INDEX_DIMENSIONS, Collection, CollectionModel, Embedding
from search.selectors import collection_named, collection_statistics, vector_search
from search.services import DocumentInput, documents_delete
from tests.factories import service_tenant
from tests.search.helpers import OPERATOR, ingest
from tests.search.test_vector import cosine, random_vector, vector_documents

pytestmark = pytest.mark.django_db
THRESHOLD = 20


def hnsw_indexes(sql) -> dict[str, str]:
    return dict(sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'embeddings' AND indexdef ~ 'hnsw'"))


@pytest.fixture
def graphs(monkeypatch):
    """Graphs past THRESHOLD documents (exact comparison up to it, as in production with 2,000): sync() builds them."""
    monkeypatch.setattr(vector_indexes, "GRAPH_MIN_DOCUMENTS", THRESHOLD)
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", THRESHOLD)

    return vector_indexes.collection_graphs_sync  # inside the test's transaction: not CONCURRENTLY


def graph_of(tenant, collection: str, model: str = "m") -> str:
    row = CollectionModel.objects.get(collection__tenant=tenant, collection__name=collection, model=model)
    return vector_indexes.graph_name(row.id)


def search(tenant, collection: str, query: list[float], *, model: str = "m", limit: int = 10, filters=None):
    return vector_search(
        collection=collection_named(tenant, collection), model=model, query_embedding=query, limit=limit,
        filters=filters or DocumentFilters(),
    )  # fmt: skip


def test_the_migrated_database_has_only_the_padded_index_as_the_code_writes_it(sql):
    """Search 0007 dropped the shared indexes of the common dimensions; 0004's padded index is what the code says."""
    migrated = hnsw_indexes(sql)
    assert sorted(migrated) == [vector_indexes.PADDED_INDEX]
    sql(f"DROP INDEX {vector_indexes.PADDED_INDEX}")
    sql(vector_indexes.padded_create_sql())
    assert hnsw_indexes(sql) == migrated  # the test's transaction rolls the swap back


def test_a_collection_past_the_threshold_gets_a_graph_that_its_searches_walk(tenant, graphs, hnsw_only, sql):
    ingest(tenant, "small", vector_documents(THRESHOLD, 1, dimensions=384))
    ingest(tenant, "large", vector_documents(THRESHOLD + 1, 2, dimensions=384))
    done = graphs()
    name = graph_of(tenant, "large")
    assert (done.built, done.dropped) == ([name], [])
    again = graphs()
    assert (again.ready, len(again)) == ([name], 0), "a second pass has nothing to do"
    assert hnsw_indexes(sql)[name].endswith(
        f"WHERE ((tenant_id = '{tenant.id}'::uuid) AND ((collection)::text = 'large'::text) "
        "AND ((model)::text = 'm'::text) AND (vector_dims(embedding) = 384))"
    )
    query = random_vector(random.Random(2), 384)
    assert search(tenant, "small", query).method == "exact"
    with CaptureQueriesContext(connection) as queries:
        result = search(tenant, "large", query, limit=5)
    assert result.method == "hnsw"
    assert len(result.hits) == 5
    (statement,) = [q["sql"] for q in queries.captured_queries if "ORDER BY e." in q["sql"]]
    plan = "\n".join(row[0] for row in sql(f"EXPLAIN {statement}"))
    assert f"Index Scan using {name}" in plan, plan
    assert "Filter" not in plan, "the graph holds only the collection's model: nothing is left to filter"


def test_a_large_collection_without_its_graph_yet_compares_every_document(tenant, graphs):
    documents = vector_documents(THRESHOLD + 5, 3, dimensions=384)
    ids = ingest(tenant, "v", documents)
    query = random_vector(random.Random(4), 384)
    result = search(tenant, "v", query, limit=5)
    exact = sorted(((cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True)), reverse=True)[:5]
    assert result.method == "exact"
    assert [i for i, _ in result.hits] == [i for _, i in exact]


@pytest.mark.parametrize("dimensions", [*NATIVE_INDEX_DIMENSIONS, 16, 1536])
def test_every_dimension_finds_its_nearest_documents_through_its_graph(tenant, graphs, hnsw_only, dimensions):
    """Common and uncommon dimensions alike (those also sit in the padded index: the graph is what is walked)."""
    documents = vector_documents(60, dimensions, dimensions=dimensions)
    ids = ingest(tenant, "v", documents)
    assert graphs().built == [graph_of(tenant, "v")]
    query = random_vector(random.Random(3), dimensions)
    result = search(tenant, "v", query)
    exact = sorted(((cosine(d.embedding, query), i) for d, i in zip(documents, ids, strict=True)), reverse=True)[:10]
    assert result.method == "hnsw"
    assert len(result.hits) == 10
    assert len({i for i, _ in result.hits} & {i for _, i in exact}) >= 9, "a 60-element graph is all but exact"
    scores = dict(result.hits)
    for score, document_id in exact:
        if document_id in scores:
            assert scores[document_id] == pytest.approx(score, abs=1e-6)


def test_each_model_and_each_tenant_has_its_own_graph_and_sees_nothing_of_the_others(tenant, graphs, hnsw_only):
    query = random_vector(random.Random(4), 384)
    ingest(tenant, "v", [DocumentInput(content=f"a{i}", model="model-a", embedding=query) for i in range(30)])
    b = set(ingest(tenant, "v", vector_documents(THRESHOLD + 3, 5, model="model-b", dimensions=384)))
    other = service_tenant()
    ingest(other, "v", [DocumentInput(content=f"o{i}", model="model-b", embedding=query) for i in range(30)])
    built = graphs().built
    assert sorted(built) == sorted(
        [graph_of(tenant, "v", "model-a"), graph_of(tenant, "v", "model-b"), graph_of(other, "v", "model-b")]
    )
    result = search(tenant, "v", query, model="model-b", limit=THRESHOLD + 10)
    assert result.method == "exact", "fewer documents of the model than asked: the exact fallback, still scoped"
    assert {i for i, _ in result.hits} == b, "all of model-b's (full k where k exist), none of model-a's or theirs"
    result = search(tenant, "v", query, model="model-b", limit=10)
    assert result.method == "hnsw"
    assert {i for i, _ in result.hits} <= b


def test_a_filtered_search_of_a_large_collection_walks_its_graph_and_keeps_full_k(tenant, graphs, hnsw_only):
    documents = vector_documents(80, 6, rare_every=3, dimensions=384)
    ids = dict(zip(ingest(tenant, "v", documents), documents, strict=True))
    graphs()
    rare = DocumentFilters(metadata={"rare": True})  # 27 documents: more than EXACT_SCAN_MAX, hence the graph
    result = search(tenant, "v", random_vector(random.Random(7), 384), limit=10, filters=rare)
    assert result.method == "hnsw"
    assert len(result.hits) == 10
    assert all(ids[i].metadata["rare"] for i, _ in result.hits)


def test_names_that_need_quoting_reach_their_graph(tenant, graphs, hnsw_only):
    """The graph's predicate is written with literals: quotes and % in names neither break it nor the search."""
    collection, model = "it's 100% o'clock", "m'%s%%"
    ingest(tenant, collection, vector_documents(THRESHOLD + 10, 8, model=model, dimensions=384))
    assert graphs().built == [graph_of(tenant, collection, model)]
    result = search(tenant, collection, random_vector(random.Random(9), 384), model=model, limit=5)
    assert result.method == "hnsw"
    assert len(result.hits) == 5


def test_graphs_go_when_their_collection_does_or_shrinks_and_a_stale_one_is_rebuilt(tenant, graphs, sql):
    ingest(tenant, "gone", vector_documents(THRESHOLD + 1, 10, dimensions=384))
    ingest(tenant, "shrinks", vector_documents(THRESHOLD * 2, 11, dimensions=384))
    ingest(tenant, "stale", vector_documents(THRESHOLD + 1, 12, dimensions=384))
    gone, shrinks, stale = (graph_of(tenant, name) for name in ("gone", "shrinks", "stale"))
    assert sorted(graphs().built) == sorted([gone, shrinks, stale])

    Collection.objects.filter(tenant=tenant, name="gone").delete()
    shrunk = collection_named(tenant, "shrinks")
    documents_delete(actor=OPERATOR, collection=shrunk, filters=DocumentFilters(metadata={"i": 0}))
    sql(f"COMMENT ON INDEX {stale} IS 'mcpadmin:keep collection graph of something else'")
    done = graphs(dry_run=True)
    assert (done.dropped, done.built) == (sorted([gone, stale]), [stale])
    assert gone in hnsw_indexes(sql), "a dry run changes nothing"
    assert graphs().dropped == sorted([gone, stale])
    assert shrinks in hnsw_indexes(sql), "still past half the threshold: kept (no build and drop in turn)"

    documents_delete(
        actor=OPERATOR, collection=shrunk, filters=DocumentFilters(ids=tuple(document_ids(shrunk)[: THRESHOLD + 10]))
    )
    assert graphs().dropped == [shrinks], "under half the threshold: dropped"
    assert sorted(hnsw_indexes(sql)) == sorted([vector_indexes.PADDED_INDEX, stale])


def document_ids(collection: Collection) -> list:
    documents = Embedding.objects.filter(tenant_id=collection.tenant_id, collection=collection.name)
    return list(documents.order_by("id").values_list("id", flat=True))


def test_an_import_builds_its_collection_graph_at_the_end(tenant, graphs, tmp_path):
    rng = random.Random(13)
    path = tmp_path / "docs.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"external_id": f"d{i}", "content": f"doc {i}", "model": "m", "embedding": random_vector(rng, 8)}
            )
            + "\n"
            for i in range(THRESHOLD + 1)
        )
    )
    out = StringIO()
    call_command("import_documents", str(path), "--tenant", str(tenant.id), "--collection", "imported", stdout=out)
    assert f"built the collection graph {graph_of(tenant, 'imported')}" in out.getvalue()


def test_the_command_says_what_it_would_do_and_does_it(tenant, graphs):
    ingest(tenant, "v", vector_documents(THRESHOLD + 1, 14, dimensions=384))
    name = graph_of(tenant, "v")
    out = StringIO()
    call_command("sync_collection_graphs", "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[0] == f"would build {name}"
    out = StringIO()
    call_command("sync_collection_graphs", stdout=out)
    assert out.getvalue().splitlines()[0] == f"built {name}"
    out = StringIO()
    call_command("sync_collection_graphs", stdout=out)
    assert out.getvalue().startswith("1 graph(s) in place, 0 built, 0 dropped")


def test_the_statistics_say_how_each_model_is_searched(tenant, graphs):
    ingest(tenant, "v", vector_documents(THRESHOLD + 1, 15, model="big", dimensions=384))
    ingest(tenant, "v", vector_documents(3, 16, model="small", dimensions=8))

    def paths() -> dict[str, str]:
        models = collection_statistics(collection_named(tenant, "v"))["models"]
        return {model["model"]: model["vector_search"] for model in models}

    assert paths() == {"big": "graph pending", "small": "exact"}
    graphs()
    assert paths() == {"big": "graph", "small": "exact"}


def test_one_sync_at_a_time_another_returns_at_once(tenant, graphs):
    """The worker's job, the command and imports take the same advisory lock: a second sync builds nothing."""
    ingest(tenant, "v", vector_documents(THRESHOLD + 1, 17, dimensions=384))
    held, release = threading.Event(), threading.Event()

    def holder() -> None:  # another session, as another process would be
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", vector_indexes.SYNC_LOCK)
            held.set()
            release.wait(10)
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", vector_indexes.SYNC_LOCK)
        connections["default"].close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        busy = graphs()
        out = StringIO()
        call_command("sync_collection_graphs", stdout=out)
    finally:
        release.set()
        thread.join()
    assert busy.busy
    assert len(busy) == 0
    assert out.getvalue().startswith("another sync is running")
    assert graphs().built == [graph_of(tenant, "v")], "once the other is done, the next one builds"


@pytest.mark.django_db(transaction=True)
def test_a_graph_built_concurrently_while_writers_ingest_holds_every_document(monkeypatch):
    """The production path: CONCURRENTLY, outside a transaction, while another session keeps ingesting. Every
    document committed before, during and after the build is found through the graph."""
    monkeypatch.setattr(vector_indexes, "GRAPH_MIN_DOCUMENTS", THRESHOLD)
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", THRESHOLD)
    tenant = service_tenant()
    rng = random.Random(18)
    ingest(tenant, "v", vector_documents(THRESHOLD * 3, 19, dimensions=384))
    targets = [random_vector(rng, 384) for _ in range(12)]
    stop, written = threading.Event(), []

    def writer() -> None:  # one document per target, each its own commit, while the build runs
        try:
            for i, target in enumerate(targets):
                if stop.is_set():
                    break
                written.append(ingest(tenant, "v", [DocumentInput(content=f"t{i}", model="m", embedding=target)])[0])
        finally:
            connections["default"].close()

    name = graph_of(tenant, "v")
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        done = vector_indexes.collection_graphs_sync()
        thread.join(30)
        assert done.built == [name]
        collection = collection_named(tenant, "v")
        for i, target in enumerate(targets[len(written) :], start=len(written)):  # the rest, after the build
            written.append(ingest(tenant, "v", [DocumentInput(content=f"t{i}", model="m", embedding=target)])[0])
        for target, document_id in zip(targets, written, strict=True):
            result = vector_search(
                collection=collection, model="m", query_embedding=target, limit=1, filters=DocumentFilters()
            )
            assert result.method == "hnsw"
            assert result.hits[0][0] == document_id
    finally:
        stop.set()
        thread.join(30)
        Collection.objects.filter(tenant=tenant).delete()  # the graph is not the flush's: the next sync drops it
        dropped = vector_indexes.collection_graphs_sync().dropped
    assert dropped == [name]
