"""A Developer Mesh database (tests/legacy/go_embeddings.sql: embeddings without a collection, with context_id,
model_name, vectors padded to 4096, a generated content_hash) adopts with the default options and is searchable."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections

from search.filters import DocumentFilters
from search.models import Collection
from search.selectors import search
from tests.deploy.conftest import execute, run

T1, T2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
CONTEXT_1 = "f0000000-0000-4000-8000-000000000001"


@contextlib.contextmanager
def as_default(alias: str) -> Iterator[None]:
    """The search code reads the default connection: point it at the adopted database for the block."""
    original = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = connections[alias]
    try:
        yield
    finally:
        connections[DEFAULT_DB_ALIAS] = original


def search_ids(alias: str, tenant: str, collection: str, **query) -> list[str]:
    with as_default(alias):
        found = Collection.objects.get(tenant_id=tenant, name=collection)
        result = search(collection=found, k=10, filters=query.pop("filters", DocumentFilters()), **query)
    return [str(row["id"]) for row in result.results]


def test_the_dry_run_says_how_many_documents_go_where(legacy_database):
    alias = legacy_database("go_embeddings")
    dry_run = run("adopt_legacy_db", "--database", alias)
    assert dry_run.code == 0, dry_run.out + dry_run.err
    assert f"tenant {T1}: 3 document(s) without a collection -> collection 'default'" in dry_run.out
    assert f"tenant {T2}: 2 document(s) without a collection -> collection 'default'" in dry_run.out
    assert "model = model_name (kept): 5 document(s)" in dry_run.out
    assert "metadata.context_id = context_id (kept): 5 document(s)" in dry_run.out
    assert "vectors: 0 kept as they are, 3 cut back to their recorded dimension" in dry_run.out
    assert "2 removed (wider than 1536 or of an unknown dimension" in dry_run.out
    assert "embeddings.content_hash: generated" in dry_run.out


def test_a_go_platform_database_adopts_with_the_default_options_and_is_searchable(legacy_database):
    alias = legacy_database("go_embeddings")
    applied = run("adopt_legacy_db", "--database", alias, "--apply")
    assert applied.code == 0, applied.out + applied.err
    assert run("schema_gap", "--database", alias).code == 0

    assert sorted(execute(alias, "SELECT tenant_id::text, name FROM mcp.search_collections")) == [
        (T1, "default"),
        (T2, "default"),
    ]
    documents = {
        str(row[0]): row[1:]
        for row in execute(
            alias,
            "SELECT id, collection, model, dimension, metadata->>'context_id', content_hash, content, "
            "model_name, model_dimensions FROM mcp.embeddings",
        )
    }
    assert {doc[0] for doc in documents.values()} == {"default"}
    for _, _, _, _, content_hash, content, model_name, _ in documents.values():
        assert content_hash == hashlib.sha256(content.encode()).hexdigest()
        assert model_name is not None, "the legacy columns stay, with their data"
    dimensions = {doc_id[-1]: (doc[1], doc[2]) for doc_id, doc in documents.items()}
    assert dimensions == {
        "1": ("tiny-3d", 3),
        "2": ("tiny-3d", 3),
        "3": ("tiny-3d", 3),  # configured_dimensions 3 (reduced from model_dimensions 4)
        "4": ("text-embedding-3-large", None),  # 3,072: wider than the platform searches
        "5": ("tiny-3d", None),  # its padding contradicts model_dimensions
    }
    assert {doc[3] for doc_id, doc in documents.items() if doc_id.endswith(("1", "2", "3"))} == {CONTEXT_1}

    # BM25, in each tenant's collection
    fox_1 = search_ids(alias, T1, "default", mode="bm25", query="fox", query_embedding=None, model=None)
    assert sorted(fox_1) == ["d1000000-0000-4000-8000-000000000001", "d1000000-0000-4000-8000-000000000003"]
    fox_2 = search_ids(alias, T2, "default", mode="bm25", query="fox", query_embedding=None, model=None)
    assert fox_2 == ["d1000000-0000-4000-8000-000000000004"]
    # vectors, where their dimension is known: the nearest to (0, 1, 0) is document 2, then 3 (0.6, 0.8, 0)
    near = search_ids(alias, T1, "default", mode="vector", query=None, query_embedding=[0, 1, 0], model="tiny-3d")
    assert near[:2] == ["d1000000-0000-4000-8000-000000000002", "d1000000-0000-4000-8000-000000000003"]
    # the legacy context is a filter
    in_context = search_ids(alias, T1, "default", mode="bm25", query="fox", query_embedding=None, model=None,
                            filters=DocumentFilters(metadata={"context_id": CONTEXT_1}))  # fmt: skip
    assert sorted(in_context) == sorted(fox_1)


def test_the_legacy_collection_can_be_named(legacy_database):
    alias = legacy_database("go_embeddings")
    applied = run("adopt_legacy_db", "--database", alias, "--apply", "--legacy-collection", "mesh archive")
    assert applied.code == 0, applied.out + applied.err
    assert f"tenant {T1}: 3 document(s) without a collection -> collection 'mesh archive'" in applied.out
    assert execute(alias, "SELECT DISTINCT collection FROM mcp.embeddings") == [("mesh archive",)]
    refused = run("adopt_legacy_db", "--database", legacy_database("go_embeddings"), "--legacy-collection", "a/b")
    assert refused.code == 2
    assert "--legacy-collection" in refused.err
