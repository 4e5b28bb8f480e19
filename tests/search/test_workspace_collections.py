"""A collection in a workspace follows the workspace: viewers search, contributors ingest, moderators delete.

Expectations written out from the rules (README, "Workspaces"), per role and visibility, with keys of another
tenant reaching a public workspace's collection by its id.
"""

from __future__ import annotations

import pytest

from search.models import Collection
from tests import factories
from workspaces.models import WorkspaceMember

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "moderator", "contributor", "viewer"]
RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}
DOC = {"content": "hybrid retrieval with reciprocal rank fusion", "model": "m", "embedding": [1.0, 0.0, 0.0]}


@pytest.fixture
def setup(tenant, other_tenant):
    agents = {role: factories.agent(tenant, name=role) for role in [*ROLES, "outsider"]}
    keys = {role: factories.issued_key(tenant, "agent", agent=agents[role]).raw_key for role in agents}
    keys["user_key"] = factories.issued_key(tenant, "user").raw_key
    keys["foreign_admin"] = factories.issued_key(other_tenant, "admin").raw_key
    return {"tenant": tenant, "agents": agents, "keys": keys}


def collection_in(setup: dict, visibility: str) -> Collection:
    agents = setup["agents"]
    space = factories.workspace(setup["tenant"], owner=agents["owner"], visibility=visibility)
    for role in ROLES[1:]:
        WorkspaceMember.objects.create(workspace=space, agent=agents[role], role=role)
    owner_api = factories.client_for(setup["keys"]["owner"])
    name = factories.unique("kb")
    created = owner_api.post("/api/v1/collections", {"name": name, "workspace_id": str(space.id)}, format="json")
    assert created.status_code == 201, created.json()
    assert (
        owner_api.post(f"/api/v1/collections/{name}/documents", {"documents": [DOC]}, format="json").status_code == 200
    )
    return Collection.objects.get(tenant=setup["tenant"], name=name)


def search(api, collection: Collection, *, by_id: bool = False):
    target = {"collection_id": str(collection.id)} if by_id else {"collection": collection.name}
    return api.post("/api/v1/search", {**target, "query": "hybrid", "mode": "bm25"}, format="json")


@pytest.mark.parametrize("visibility", ["private", "organization", "public"])
@pytest.mark.parametrize("caller", [*ROLES, "outsider", "user_key"])
def test_search_and_ingest_follow_the_workspace(setup, caller, visibility):
    collection = collection_in(setup, visibility)
    api = factories.client_for(setup["keys"][caller])
    readable = caller in ROLES or visibility in ("organization", "public")
    searched = search(api, collection)
    assert searched.status_code == (200 if readable else 404)
    if readable:
        assert [r["content"] for r in searched.json()["results"]] == [DOC["content"]]
    ingested = api.post(f"/api/v1/collections/{collection.name}/documents",
                        {"documents": [{**DOC, "content": f"more from {caller}"}]}, format="json")  # fmt: skip
    if caller == "user_key":
        expected = 403  # user keys never write (key-type matrix)
    elif not readable:
        expected = 404
    else:
        expected = 200 if caller in ROLES and RANK[caller] >= RANK["contributor"] else 403
    assert ingested.status_code == expected


def test_contributors_delete_their_own_documents_moderators_anyone(setup):
    collection = collection_in(setup, "private")
    contributor = factories.client_for(setup["keys"]["contributor"])
    moderator = factories.client_for(setup["keys"]["moderator"])
    url = f"/api/v1/collections/{collection.name}/documents"
    own = contributor.post(url, {"documents": [{**DOC, "content": "mine"}]}, format="json").json()["documents"][0]["id"]
    owners_doc = collection_documents(collection) - {own}
    assert contributor.delete(f"{url}/{owners_doc.pop()}").status_code == 403
    assert contributor.delete(f"{url}?task_type=none&agent_id=someone-else").status_code == 403
    deleted = contributor.delete(f"{url}?metadata={{}}").json()
    assert deleted["ids"] == [own], "a filter delete by a contributor is limited to its own agent's documents"
    assert moderator.delete(f"{url}?metadata={{}}").json()["deleted"] == 1
    assert collection_documents(collection) == set()


def collection_documents(collection: Collection) -> set[str]:
    from search.models import Embedding

    return {str(i) for i in Embedding.objects.filter(tenant=collection.tenant, collection=collection.name).values_list(
        "id", flat=True)}  # fmt: skip


def test_another_tenant_searches_a_public_workspace_collection_by_id_only(setup):
    public, private = collection_in(setup, "public"), collection_in(setup, "private")
    foreign = factories.client_for(setup["keys"]["foreign_admin"])
    assert search(foreign, public, by_id=True).status_code == 200
    assert search(foreign, public).status_code == 404, "names are per tenant: not found in its own tenant"
    assert search(foreign, private, by_id=True).status_code == 404
    listed = {c["id"] for c in foreign.get("/api/v1/collections?include_public=true").json()["results"]}
    assert str(public.id) in listed
    assert str(private.id) not in listed
    url = f"/api/v1/collections/{public.name}/documents"
    assert foreign.post(url, {"documents": [DOC]}, format="json").status_code == 200, "its own, new collection"
    assert Collection.objects.filter(tenant=public.tenant, name=public.name).count() == 1


def test_lists_hide_collections_of_workspaces_the_caller_cannot_see(setup):
    hidden = collection_in(setup, "private")
    outsider = factories.client_for(setup["keys"]["outsider"])
    assert str(hidden.id) not in {c["id"] for c in outsider.get("/api/v1/collections").json()["results"]}
    member = factories.client_for(setup["keys"]["viewer"])
    assert str(hidden.id) in {c["id"] for c in member.get("/api/v1/collections").json()["results"]}


def test_only_contributors_put_a_collection_in_a_workspace(setup):
    space = factories.workspace(setup["tenant"], owner=setup["agents"]["owner"])
    WorkspaceMember.objects.create(workspace=space, agent=setup["agents"]["viewer"], role="viewer")
    viewer = factories.client_for(setup["keys"]["viewer"])
    outsider = factories.client_for(setup["keys"]["outsider"])
    body = {"name": "kb", "workspace_id": str(space.id)}
    assert viewer.post("/api/v1/collections", body, format="json").status_code == 403
    assert outsider.post("/api/v1/collections", body, format="json").status_code == 400
