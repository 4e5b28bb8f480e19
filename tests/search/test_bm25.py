"""BM25: equal to `mcp.bm25_score` on the same statistics, and to reference computations on the same tokens."""

from __future__ import annotations

import bm25s
import pytest
from django.db import connection

from search.filters import DocumentFilters
from search.selectors import K1, bm25_search
from search.services import DocumentInput, collection_create, documents_ingest
from tests.search.helpers import OPERATOR, corpus, documents_tokens, ingest, reference_bm25

pytestmark = pytest.mark.django_db

QUERIES = [
    "boundary layer",
    "supersonic flow over wings",
    "the running engines",
    "pressure",
    "heat transfer in turbulent boundary layers",
    "flutter of panels",
    "wing",  # common
    "vortex shedding cylinders",
    "drag lift airfoil nozzle jet",
]


@pytest.fixture
def collection(tenant):
    ingest(tenant, "papers", corpus(300))
    from search.selectors import collection_named

    return collection_named(tenant, "papers")


def sql_bm25_scores(collection, document_ids, terms):
    """sum(mcp.bm25_score(...)) per document over the query terms, in lexeme order, with the side tables' figures."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH stats AS (
                SELECT (SELECT sum(documents)::int FROM search_collection_counters WHERE collection_id = %(c)s) AS n,
                       (SELECT sum(total_length)::float8 / sum(documents) FROM search_collection_counters
                         WHERE collection_id = %(c)s) AS avgdl
            ), df AS (
                SELECT term, sum(document_count)::int AS df FROM search_term_stats
                 WHERE collection_id = %(c)s AND term = ANY(%(terms)s) GROUP BY term
            )
            SELECT e.id, sum(mcp.bm25_score((e.term_frequencies ->> df.term)::float, df.df, stats.n,
                                            e.document_length, stats.avgdl) ORDER BY df.term)
              FROM embeddings e CROSS JOIN stats JOIN df ON e.term_frequencies ? df.term
             WHERE e.id = ANY(%(ids)s)
             GROUP BY e.id
            """,
            {"c": collection.id, "terms": terms, "ids": document_ids},
        )
        return dict(cursor.fetchall())


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_bm25_score_applied_to_the_same_statistics(collection, query):
    result = bm25_search(collection=collection, query=query, limit=50, filters=DocumentFilters())
    assert result.hits
    expected = sql_bm25_scores(collection, [i for i, _ in result.hits], result.terms)
    assert dict(result.hits) == expected  # exactly, not approximately


@pytest.mark.parametrize("query", QUERIES)
def test_top_k_equals_a_plain_python_reference_fed_the_analyzers_tokens(collection, tenant, query):
    tokens = documents_tokens(tenant, "papers")
    result = bm25_search(collection=collection, query=query, limit=20, filters=DocumentFilters())
    reference = reference_bm25(tokens, result.terms)[:20]
    assert [i for i, _ in result.hits] == [i for i, _ in reference]
    assert [s for _, s in result.hits] == pytest.approx([s for _, s in reference], rel=1e-12)


def test_scores_equal_bm25s_lucene_times_k1_plus_1(collection, tenant):
    """bm25s's "lucene" method drops Lucene's constant (k1 + 1) factor and computes in float32."""
    tokens = documents_tokens(tenant, "papers")
    ids = sorted(tokens)
    retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    retriever.index([tokens[i] for i in ids], show_progress=False)
    vocabulary = {term for t in tokens.values() for term in t}
    for query in QUERIES:
        result = bm25_search(collection=collection, query=query, limit=30, filters=DocumentFilters())
        known = [term for term in result.terms if term in vocabulary]
        scores = retriever.get_scores(known) * (K1 + 1)
        ours = dict(result.hits)
        for document_id, score in ours.items():
            assert score == pytest.approx(float(scores[ids.index(document_id)]), rel=2e-5)
        best = sorted(range(len(ids)), key=lambda i: -scores[i])[: len(ours)]
        # equal sets up to float32 ties at the cut
        cut = min(ours.values())
        assert {ids[i] for i in best if scores[i] > cut * (1 + 1e-4)} <= set(ours)


def test_or_semantics(tenant):
    ingest(tenant, "or", [DocumentInput(content=c, model="m") for c in ("red apples", "green pears", "blue sky")])
    from search.selectors import collection_named

    result = bm25_search(
        collection=collection_named(tenant, "or"), query="apples pears", limit=10, filters=DocumentFilters()
    )
    assert len(result.hits) == 2


def test_a_query_of_stop_words_or_unknown_terms_finds_nothing_without_error(collection):
    for query in ("the and of", "", "   ", "zzzyzx qqqq", "!!! ???"):
        result = bm25_search(collection=collection, query=query, limit=10, filters=DocumentFilters())
        assert result.hits == []


def test_query_terms_go_through_the_collections_analyzer(tenant):
    documents = [DocumentInput(content="the engine runs", model="m"), DocumentInput(content="running", model="m")]
    english = collection_create(actor=OPERATOR, tenant=tenant, name="en")
    simple = collection_create(actor=OPERATOR, tenant=tenant, name="plain", text_search_config="simple")
    documents_ingest(actor=OPERATOR, tenant=tenant, collection="en", documents=documents)
    documents_ingest(actor=OPERATOR, tenant=tenant, collection="plain", documents=documents)
    english_hits = bm25_search(collection=english, query="running", limit=10, filters=DocumentFilters())
    simple_hits = bm25_search(collection=simple, query="running", limit=10, filters=DocumentFilters())
    assert english_hits.terms == ["run"]
    assert len(english_hits.hits) == 2
    assert simple_hits.terms == ["running"]
    assert len(simple_hits.hits) == 1
    assert bm25_search(collection=simple, query="The", limit=1, filters=DocumentFilters()).terms == ["the"]


def test_long_documents_have_exact_term_frequencies_and_length(tenant):
    """tsvector positions stop at 16383 and 255 per lexeme; the analysis then counts tokens one by one."""
    content = "cat " * 17_000 + "dog " * 300 + "bird"
    documents_ingest(
        actor=OPERATOR, tenant=tenant, collection="long", documents=[DocumentInput(content=content, model="m")]
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT term_frequencies, document_length FROM embeddings WHERE tenant_id = %s", [tenant.id])
        term_frequencies, length = cursor.fetchone()
    import json

    assert json.loads(term_frequencies) == {"cat": 17_000, "dog": 300, "bird": 1}
    assert length == 17_301


def test_filters_restrict_candidates(collection, tenant):
    everything = bm25_search(collection=collection, query="flow", limit=300, filters=DocumentFilters())
    filtered = bm25_search(
        collection=collection, query="flow", limit=100, filters=DocumentFilters(task_type="code", metadata={"group": 1})
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM embeddings WHERE tenant_id = %s AND task_type = 'code' AND metadata @> '{\"group\": 1}'",
            [tenant.id],
        )
        allowed = {row[0] for row in cursor.fetchall()}
    assert filtered.hits
    assert {i for i, _ in filtered.hits} <= allowed
    assert [h for h in everything.hits if h[0] in allowed] == filtered.hits  # same scores: statistics unchanged
