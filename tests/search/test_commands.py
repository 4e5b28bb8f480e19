"""`manage.py rebuild_search_stats`: recomputes derived columns and statistics, and verifies them."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from search.models import Embedding, EmbeddingStatistics
from search.selectors import collection_named, collection_stats_problems
from tests.factories import service_tenant
from tests.search.helpers import corpus, ingest

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("rebuild_search_stats", *args, stdout=out)
    return out.getvalue()


def test_rebuild_repairs_corrupted_statistics_and_columns_and_verifies(tenant, sql):
    ingest(tenant, "c", corpus(40, seed=3))
    collection = collection_named(tenant, "c")
    sql(
        "UPDATE search_term_stats SET document_count = document_count + 5 WHERE collection_id = %s "
        "AND stripe = (SELECT min(stripe) FROM search_term_stats WHERE collection_id = %s)",
        [collection.id, collection.id],
    )
    sql("UPDATE embeddings SET term_frequencies = '{\"bogus\": 1}', document_length = 99 WHERE id = "
        "(SELECT id FROM embeddings WHERE tenant_id = %s LIMIT 1)", [tenant.id])  # fmt: skip
    sql("DELETE FROM search_collection_models WHERE collection_id = %s", [collection.id])
    assert collection_stats_problems(collection)
    with pytest.raises(CommandError):
        run("--verify-only", "--collection", "c", "--tenant", tenant.name)
    output = run("--collection", "c", "--tenant", str(tenant.id))
    assert "fixed: derived columns of 1" in output
    assert "1 model dimensions" in output
    assert "verified, exact" in output
    assert "  derived columns: 40/40 (100%" in output  # progress, as lines: the output is not a terminal
    assert "\r" not in output
    assert collection_stats_problems(collection) == []
    assert EmbeddingStatistics.objects.get(collection_id=str(collection.id)).total_documents == 40


def test_rebuild_adopts_documents_written_without_a_collection(tenant):
    Embedding.objects.create(tenant=tenant, collection="legacy", content="written by another service", content_hash="0")
    output = run("--tenant", tenant.name)
    assert "created collection 'legacy'" in output
    legacy = collection_named(tenant, "legacy")
    assert collection_stats_problems(legacy) == []
    assert Embedding.objects.get(tenant=tenant).term_frequencies == {"written": 1, "anoth": 1, "servic": 1}


def test_unknown_collection_is_an_error(tenant):
    service_tenant()
    with pytest.raises(CommandError):
        run("--collection", "nothing-of-that-name")
