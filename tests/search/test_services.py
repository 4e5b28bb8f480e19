"""Ingest, upserts, deletes and statistics: exact after any mix of writes, per tenant, all or nothing."""

from __future__ import annotations

import math
import random
import threading

import pytest
from django.db import connection

from mcpadmin.core.errors import Conflict, DomainError
from search.filters import DocumentFilters
from search.models import Collection, CollectionModel, Embedding, EmbeddingStatistics
from search.selectors import collection_named, collection_stats_problems
from search.services import (
    DocumentInput,
    collection_create,
    collection_stats_fold,
    collection_stats_fold_behind,
    documents_delete,
    documents_ingest,
)
from tests.factories import service_tenant, workspace
from tests.search.helpers import OPERATOR, corpus, ingest, recomputed_statistics, side_table_statistics

pytestmark = pytest.mark.django_db


def assert_exact(tenant, name, config="english"):
    """Side tables == a Python recomputation from the documents' text; embedding_statistics == the side tables."""
    collection = collection_named(tenant, name)
    documents, total_length, df = recomputed_statistics(tenant, name, config)
    assert side_table_statistics(collection.id) == (documents, total_length, df)
    collection_stats_fold(collection_id=collection.id)
    row = EmbeddingStatistics.objects.get(collection_id=str(collection.id))
    assert row.total_documents == documents
    assert row.avg_document_length == (total_length / documents if documents else 0)
    assert row.term_document_counts == df
    assert collection_stats_problems(collection) == []


def test_statistics_are_exact_after_inserts_updates_and_deletes(tenant):
    documents = corpus(120, seed=1)
    ingest(tenant, "c", documents, batch=50)
    assert_exact(tenant, "c")
    # replace 40 documents by external id with other content
    replacements = corpus(40, seed=2)
    documents_ingest(actor=OPERATOR, tenant=tenant, collection="c", documents=replacements)
    assert_exact(tenant, "c")
    deleted = documents_delete(
        actor=OPERATOR, collection=collection_named(tenant, "c"), filters=DocumentFilters(metadata={"group": 3})
    )
    assert deleted
    assert_exact(tenant, "c")


def test_upsert_by_external_id_and_by_content_and_model(tenant):
    first = documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="c",
        documents=[
            DocumentInput(content="alpha beta", model="m", external_id="x"),
            DocumentInput(content="gamma delta", model="m"),
        ],
    )
    second = documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="c",
        documents=[
            DocumentInput(content="alpha gamma", model="m", external_id="x", metadata={"v": 2}),
            DocumentInput(content="gamma delta", model="m", metadata={"v": 2}),  # same content and model
            DocumentInput(content="gamma delta", model="other"),  # same content, other model: a new document
        ],
    )
    assert [created for _, created in first.documents] == [True, True]
    assert [created for _, created in second.documents] == [False, False, True]
    assert second.documents[0][0] == first.documents[0][0]
    assert second.documents[1][0] == first.documents[1][0]
    assert Embedding.objects.filter(tenant=tenant).count() == 3
    assert Embedding.objects.get(id=first.documents[0][0]).content == "alpha gamma"
    assert_exact(tenant, "c")


def test_two_tenants_collections_of_one_name_never_share_statistics(tenant):
    other = service_tenant()
    ingest(tenant, "shared-name", [DocumentInput(content="apples and pears", model="m")])
    ingest(
        other, "shared-name", [DocumentInput(content="rockets", model="m"), DocumentInput(content="moon", model="m")]
    )
    mine, theirs = collection_named(tenant, "shared-name"), collection_named(other, "shared-name")
    assert mine.id != theirs.id
    assert side_table_statistics(mine.id) == (1, 2, {"appl": 1, "pear": 1})
    assert side_table_statistics(theirs.id) == (2, 2, {"rocket": 1, "moon": 1})
    assert_exact(tenant, "shared-name")
    assert_exact(other, "shared-name")


def test_a_batch_is_all_or_nothing_and_names_the_failing_document(tenant):
    ingest(tenant, "c", [DocumentInput(content="kept", model="m", embedding=[1.0, 0.0])])
    before = side_table_statistics(collection_named(tenant, "c").id)
    bad_batches = [
        ([DocumentInput(content="ok", model="m"), DocumentInput(content="  ", model="m")], 1, "content"),
        ([DocumentInput(content="ok", model="m", embedding=[1.0, 2.0, 3.0])], 0, "embedding"),  # the model has 2 dims
        ([DocumentInput(content="ok", model="m", embedding=[math.nan, 1.0])], 0, "embedding"),
        ([DocumentInput(content="a", model="m", external_id="d"), DocumentInput(content="b", model="m", external_id="d")], 1, "external_id"),  # noqa: E501
        ([DocumentInput(content="a", model="n", embedding=[1.0]), DocumentInput(content="b", model="n", embedding=[1.0, 2.0])], 1, "embedding"),  # noqa: E501
        ([DocumentInput(content="same", model="m"), DocumentInput(content="same", model="m")], 1, "content"),
    ]  # fmt: skip
    for documents, index, field in bad_batches:
        with pytest.raises(DomainError) as refused:
            documents_ingest(actor=OPERATOR, tenant=tenant, collection="c", documents=documents)
        assert refused.value.details == {
            "documents": {str(index): {field: refused.value.details["documents"][str(index)][field]}}
        }
        assert f"Document {index}" in refused.value.message
    assert Embedding.objects.filter(tenant=tenant).count() == 1
    assert side_table_statistics(collection_named(tenant, "c").id) == before
    assert not CollectionModel.objects.filter(model="n").exists()


def test_a_batch_has_at_most_1000_documents(tenant):
    with pytest.raises(DomainError) as refused:
        documents_ingest(
            actor=OPERATOR, tenant=tenant, collection="c", documents=[DocumentInput(content="x", model="m")] * 1001
        )
    assert "1000" in refused.value.message
    assert refused.value.code == "batch_too_large"


def test_a_model_keeps_its_first_dimension_in_a_collection_but_not_in_others(tenant):
    documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="a",
        documents=[DocumentInput(content="x", model="m", embedding=[1.0] * 3)],
    )
    documents_ingest(
        actor=OPERATOR,
        tenant=tenant,
        collection="b",
        documents=[DocumentInput(content="x", model="m", embedding=[1.0] * 5)],
    )
    with pytest.raises(DomainError) as refused:
        documents_ingest(
            actor=OPERATOR,
            tenant=tenant,
            collection="a",
            documents=[DocumentInput(content="y", model="m", embedding=[1.0] * 5)],
        )
    assert "dimension 3" in refused.value.message


def test_idf_scores_hold_the_idf_of_each_term_after_the_write(tenant):
    ingest(tenant, "c", [DocumentInput(content=c, model="m") for c in ("red fox", "red dog", "blue bird")])
    document = Embedding.objects.get(tenant=tenant, content="red fox")
    n = 3
    assert document.idf_scores == pytest.approx(
        {"red": math.log(1 + (n - 2 + 0.5) / 2.5), "fox": math.log(1 + (n - 1 + 0.5) / 1.5)}, rel=1e-12
    )
    assert document.term_frequencies == {"red": 1, "fox": 1}
    assert document.document_length == 2


def test_collections_are_created_on_first_ingest_or_explicitly_with_a_checked_analyzer(tenant):
    documents_ingest(
        actor=OPERATOR, tenant=tenant, collection="auto", documents=[DocumentInput(content="x", model="m")]
    )
    assert Collection.objects.get(tenant=tenant, name="auto").text_search_config == "english"
    space = workspace(tenant)
    made = collection_create(
        actor=OPERATOR, tenant=tenant, name="french", text_search_config="french", workspace_id=space.id
    )
    assert made.workspace == space
    with pytest.raises(DomainError) as refused:
        collection_create(actor=OPERATOR, tenant=tenant, name="x", text_search_config="klingon")
    assert "text_search_config" in refused.value.details
    with pytest.raises(Conflict):
        collection_create(actor=OPERATOR, tenant=tenant, name="french")
    for bad in ("", " padded", "a/b", "x" * 256):
        with pytest.raises(DomainError):
            collection_create(actor=OPERATOR, tenant=tenant, name=bad)


def test_deleting_a_tenant_removes_its_collections_statistics(tenant):
    ingest(tenant, "c", [DocumentInput(content="x y", model="m")])
    statistics_id = str(collection_named(tenant, "c").id)
    collection_stats_fold(collection_id=collection_named(tenant, "c").id)
    assert EmbeddingStatistics.objects.filter(collection_id=statistics_id).exists()
    tenant.delete()
    assert not EmbeddingStatistics.objects.filter(collection_id=statistics_id).exists()


@pytest.mark.django_db(transaction=True)
def test_statistics_are_exact_after_concurrent_ingest_update_and_delete():
    """Six threads, each with its own connection, insert, replace (the same external ids) and delete at once."""
    tenant = service_tenant()
    ingest(tenant, "race", corpus(60, seed=40))  # the collection exists; the threads fight over its documents
    errors: list[Exception] = []
    barrier = threading.Barrier(6)
    stripes: set[int] = set()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            for round_ in range(8):
                batch = corpus(25, seed=seed * 100 + round_)
                # external ids doc-0..doc-24 collide across threads: concurrent upserts of the same documents
                documents_ingest(actor=OPERATOR, tenant=tenant, collection="race", documents=batch)
                fresh = [
                    DocumentInput(content=f"unique {seed} {round_} {rng.random()} flow wing", model="test-model")
                    for _ in range(5)
                ]
                documents_ingest(actor=OPERATOR, tenant=tenant, collection="race", documents=fresh)
                target = collection_named(tenant, "race")
                group = rng.randrange(5)
                documents_delete(actor=OPERATOR, collection=target, filters=DocumentFilters(metadata={"group": group}))
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT array_agg(DISTINCT stripe) FROM search_collection_counters WHERE collection_id = %s",
                        [target.id],
                    )
                    stripes.update(cursor.fetchone()[0] or [])
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(stripes) > 1  # the writers did not all queue on one row
    assert Embedding.objects.filter(tenant=tenant).exists()
    assert_exact(tenant, "race")
    tenant.delete()


def test_a_collection_left_behind_by_a_failed_fold_is_caught_up_by_the_workers_pass(tenant):
    ingest(tenant, "behind", corpus(5))
    ingest(tenant, "current", corpus(3))
    collection_stats_fold(collection_id=collection_named(tenant, "current").id)  # (on commit, outside a test)
    behind = collection_named(tenant, "behind")  # its fold after the last write never ran (failed, process died)
    assert not EmbeddingStatistics.objects.filter(collection_id=str(behind.id)).exists()
    assert collection_stats_fold_behind() == 1
    assert_exact(tenant, "behind")
    assert collection_stats_fold_behind() == 0
