"""The operator admin of search: console, collections with statistics, read-only documents."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from search.models import Collection, Embedding
from search.services import DocumentInput, documents_ingest
from tests.search.helpers import OPERATOR, search_writes

pytestmark = pytest.mark.django_db


@pytest.fixture
def papers(tenant):
    documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="papers",
        documents=[
            DocumentInput(content="Boundary layer flow over a plate", model="m", embedding=[1.0, 0.0], external_id="a"),
            DocumentInput(content="Shock waves in supersonic flow", model="m", embedding=[0.0, 1.0], external_id="b"),
        ],
    )
    return Collection.objects.get(tenant=tenant, name="papers")


def test_console_shows_the_three_lists_side_by_side(admin_client, papers):
    url = reverse("admin:search_console")
    assert admin_client.get(url).status_code == 200
    response = admin_client.get(
        url, {"collection": papers.pk, "query": "flow plate", "model": "m", "query_embedding": "[1, 0.2]", "k": 5,
              "candidates": 10, "rrf_k": 60},
    )  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200
    assert "Mode used: <strong>hybrid</strong>" in page
    for heading in ("BM25 (2 candidates)", "Vector (2 candidates)", "Fused (dbsf)"):
        assert heading in page
    assert page.count("Boundary layer flow over a plate") == 3  # in each list
    # two candidates per list: mean ± 3 sd maps the better to 0.6179 and the worse to 0.3821 in each list
    assert "1.23570" in page  # the document first in both lists
    assert "1 / 0.9806 / 0.6179" in page  # its vector rank / cosine / normalised


def test_console_runs_the_chosen_fusion_with_its_weights(admin_client, papers):
    response = admin_client.get(
        reverse("admin:search_console"),
        {"collection": papers.pk, "query": "flow plate", "model": "m", "query_embedding": "[1, 0.2]", "k": 5,
         "candidates": 10, "rrf_k": 60, "fusion": "rrf", "bm25_weight": "0", "vector_weight": "2"},
    )  # fmt: skip
    page = response.content.decode()
    assert "Fused (rrf)" in page
    assert "0.03279" in page  # 2 / 61: the vector list's term only, twice
    assert "0.0164" in page  # its normalised 1 / 61 in each list
    refused = admin_client.get(
        reverse("admin:search_console"),
        {"collection": papers.pk, "query": "flow", "k": 5, "candidates": 10, "rrf_k": 60, "bm25_weight": "0",
         "vector_weight": "0"},
    )  # fmt: skip
    assert "At least one weight above 0." in refused.content.decode()
    assert "Mode used" not in refused.content.decode()


def test_console_reports_bad_input_as_form_errors(admin_client, papers):
    url = reverse("admin:search_console")
    response = admin_client.get(url, {"collection": papers.pk, "query_embedding": "[NaN]", "k": 5, "candidates": 10,
                                      "rrf_k": 60})  # fmt: skip
    assert response.status_code == 200
    assert "Mode used" not in response.content.decode()
    wrong_dimension = admin_client.get(
        url, {"collection": papers.pk, "query": "flow", "model": "m", "query_embedding": "[1, 2, 3]", "k": 5,
              "candidates": 10, "rrf_k": 60},
    )  # fmt: skip
    assert "dimension 2" in wrong_dimension.content.decode()


def test_collections_list_and_page_show_statistics(admin_client, papers):
    listing = admin_client.get(reverse("admin:search_collection_changelist")).content.decode()
    assert "papers" in listing
    assert "Search console" in listing
    page = admin_client.get(reverse("admin:search_collection_change", args=[papers.pk])).content.decode()
    assert "2 documents" in page
    assert "flow (2)" in page


def test_verify_action(admin_client, papers):
    response = admin_client.post(
        reverse("admin:search_collection_changelist"),
        {"action": "verify_statistics", "_selected_action": [papers.pk]},
        follow=True,
    )
    assert "exact." in response.content.decode()


def test_documents_are_read_only(admin_client, papers):
    document = Embedding.objects.filter(collection="papers").first()
    page = admin_client.get(reverse("admin:search_embedding_change", args=[document.pk])).content.decode()
    assert document.content in page
    assert 'name="_save"' not in page
    assert (
        admin_client.post(reverse("admin:search_embedding_delete", args=[document.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Embedding.objects.filter(pk=document.pk).exists()


def test_the_collection_page_writes_nothing(admin_client, papers):
    """The page shows exact figures from the side tables; it used to fold `embedding_statistics` first."""
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(reverse("admin:search_collection_change", args=[papers.pk])).content.decode()
    assert "2 documents" in page
    assert search_writes(captured.captured_queries) == []
