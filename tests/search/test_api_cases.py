"""Generic API cases of search: collections, documents, search. See tests/api_cases.py for the generated tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from search.services import DocumentInput, collection_create, documents_ingest
from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every
from tests.search.helpers import OPERATOR

#: Search is read by every key type (a search is a read); ingest and deletes are writes (not user keys).
WRITERS = every(200, user=403)


def collection(ctx: Ctx) -> Any:
    """A collection of the tenant (in no workspace: every key of the tenant reads it) with one document."""
    found = collection_create(actor=OPERATOR, tenant=ctx.tenant, name=factories.unique("papers"))
    document = DocumentInput(content="shock waves over a flat plate", model="test-model", external_id="doc-1")
    (document_id, _), *_ = documents_ingest(
        actor=OPERATOR, tenant=ctx.tenant, collection=found.name, documents=[document]
    ).documents
    return SimpleNamespace(pk=found.pk, name=found.name, document_id=document_id)


def collections(ctx: Ctx, count: int) -> Any:
    return [
        collection_create(actor=OPERATOR, tenant=ctx.tenant, name=factories.unique("papers")) for _ in range(count)
    ][-1]


def new_collection(ctx: Ctx, sample: Any) -> dict[str, Any]:
    return {"name": factories.unique("notes")}


SEARCH = Case(
    name="search",
    sample=collection,
    params=lambda sample: {"collection": sample.name, "document_id": sample.document_id},
    calls=(
        Call(
            "POST",
            "/api/v1/search",
            every(200),
            body=lambda ctx, sample: {"collection": sample.name, "query": "shock"},
            cross_tenant=404,
        ),
        Call("GET", "/api/v1/collections", every(200), max_queries=5, rows=collections),
        Call("POST", "/api/v1/collections", every(201, user=403), body=new_collection),
        Call("GET", "/api/v1/collections/{collection}", every(200)),
        # Names are per tenant: ingesting under another tenant's collection name creates the caller's own.
        Call(
            "POST",
            "/api/v1/collections/{collection}/documents",
            WRITERS,
            body={"documents": [{"content": "boundary layer heating", "model": "test-model"}]},
            cross_tenant=200,
        ),
        Call("DELETE", "/api/v1/collections/{collection}/documents?external_id=doc-1", WRITERS),
        Call("GET", "/api/v1/collections/{collection}/documents/{document_id}", every(200)),
        # The sample document has no author agent: an agent key deletes only its own agent's documents.
        Call("DELETE", "/api/v1/collections/{collection}/documents/{document_id}", every(200, user=403, agent=403)),
    ),
)

#: Searching another tenant's collection: by name (a name of the caller's tenant, so none) and by id.
SEARCH_BY_ID = Case(
    name="search:by-collection-id",
    sample=collection,
    calls=(
        Call(
            "POST",
            "/api/v1/search",
            every(200),
            body=lambda ctx, sample: {"collection_id": str(sample.pk), "query": "shock"},
            cross_tenant=404,
        ),
    ),
)

globals().update(api_tests(SEARCH, SEARCH_BY_ID))
