"""A collection in a workspace follows the workspace: viewers search, contributors ingest, moderators delete.

Expectations written out from the rules (docs, "Workspaces"), per role and visibility, with keys of another
tenant reaching a public workspace's collection by its id.
"""

from __future__ import annotations

import pytest

from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError, Forbidden, NotFound
from search import policy
from search.filters import DocumentFilters
from search.models import Collection, Embedding
from search.services import DocumentInput, collection_create, document_delete, documents_delete, documents_ingest
from tests import factories
from tests.search.helpers import OPERATOR
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
    everything = "created_after=2000-01-01T00:00:00Z"
    deleted = contributor.delete(f"{url}?{everything}").json()
    assert deleted["ids"] == [own], "a filter delete by a contributor is limited to its own agent's documents"
    assert moderator.delete(f"{url}?{everything}").json()["deleted"] == 1
    assert collection_documents(collection) == set()


def collection_documents(collection: Collection) -> set[str]:
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


# --- The services decide, whoever calls them -----------------------------------------------------------------------


def caller(key_type: str, tenant, **fields) -> Actor:
    return Actor.for_key(factories.issued_key(tenant, key_type, **fields).key)


def agent_caller(setup: dict, role: str) -> Actor:
    return Actor.for_key(factories.issued_key(setup["tenant"], "agent", agent=setup["agents"][role]).key)


def filled(setup: dict, visibility: str) -> Collection:
    """A collection in a workspace, with one document of the owner's agent and one of the contributor's."""
    collection = collection_in(setup, visibility)
    documents_ingest(actor=agent_caller(setup, "contributor"), tenant=setup["tenant"], collection=collection.name,
                     documents=[DocumentInput(content="the contributor's notes", model="m")])  # fmt: skip
    return collection


def test_documents_delete_refuses_callers_the_rules_refuse(setup, other_tenant):
    open_to_tenant, private = filled(setup, "organization"), filled(setup, "private")
    before = collection_documents(open_to_tenant) | collection_documents(private)
    refusals = [
        (open_to_tenant, caller("user", setup["tenant"]), Forbidden, "service_not_allowed"),  # key-type matrix
        (open_to_tenant, agent_caller(setup, "viewer"), Forbidden, "workspace_forbidden"),
        (open_to_tenant, agent_caller(setup, "outsider"), Forbidden, "workspace_forbidden"),
        (open_to_tenant, caller("admin", other_tenant), NotFound, "not_found"),
        (private, agent_caller(setup, "outsider"), NotFound, "not_found"),  # may not even read it
        (private, caller("user", setup["tenant"]), NotFound, "not_found"),
    ]
    for collection, actor, refusal, code in refusals:
        with pytest.raises(refusal) as refused:
            documents_delete(actor=actor, collection=collection, filters=DocumentFilters(model="m"))
        assert refused.value.code == code
    with pytest.raises(Forbidden):
        documents_delete(actor=agent_caller(setup, "contributor"), collection=private,
                         filters=DocumentFilters(agent_id=str(setup["agents"]["owner"].id)))  # fmt: skip
    assert collection_documents(open_to_tenant) | collection_documents(private) == before


def test_a_contributor_deletes_only_its_agents_documents_even_with_a_filter_that_holds_for_all(setup):
    collection = filled(setup, "private")
    contributor = agent_caller(setup, "contributor")
    owners = Embedding.objects.get(collection=collection.name, agent_id=str(setup["agents"]["owner"].id))
    with pytest.raises(Forbidden):
        document_delete(actor=contributor, collection=collection, document_id=owners.id)
    deleted = documents_delete(actor=contributor, collection=collection, filters=DocumentFilters(model="m"))
    assert collection_documents(collection) == {str(owners.id)}
    assert len(deleted) == 1


@pytest.mark.parametrize("filters", [DocumentFilters(), DocumentFilters(metadata={})], ids=["none", "metadata {}"])
def test_a_filter_that_restricts_nothing_is_refused_to_everyone(setup, filters):
    """Issue 13, finding 7: `?metadata={}` counted as a filter and deleted every document."""
    collection = filled(setup, "private")
    before = collection_documents(collection)
    for actor in (OPERATOR, agent_caller(setup, "owner")):
        with pytest.raises(DomainError) as refused:
            documents_delete(actor=actor, collection=collection, filters=filters)
        assert refused.value.details == {"filters": ["at least one filter"]}
    assert collection_documents(collection) == before


def test_another_tenants_key_never_writes_to_a_public_collection_it_may_search(setup, other_tenant):
    collection = filled(setup, "public")
    foreign = caller("admin", other_tenant)
    with pytest.raises(Forbidden) as refused:
        documents_delete(actor=foreign, collection=collection, filters=DocumentFilters(model="m"))
    assert refused.value.code == "cross_tenant"
    with pytest.raises(Forbidden):
        documents_ingest(actor=foreign, tenant=setup["tenant"], collection=collection.name,
                         documents=[DocumentInput(content="spam", model="m")])  # fmt: skip
    assert len(collection_documents(collection)) == 2


def test_documents_ingest_and_collection_create_refuse_callers_the_rules_refuse(setup):
    collection = filled(setup, "organization")
    tenant = setup["tenant"]
    document = [DocumentInput(content="more", model="m")]
    for actor, code in [(caller("user", tenant), "service_not_allowed"), (agent_caller(setup, "viewer"),
                        "workspace_forbidden"), (agent_caller(setup, "outsider"), "workspace_forbidden")]:  # fmt: skip
        with pytest.raises(Forbidden) as refused:
            documents_ingest(actor=actor, tenant=tenant, collection=collection.name, documents=document)
        assert refused.value.code == code
        with pytest.raises(DomainError) as refused:
            collection_create(actor=actor, tenant=tenant, name="new", workspace_id=collection.workspace_id)
        assert refused.value.code in (code, "invalid")  # an outsider does not see a private workspace: 400
    assert len(collection_documents(collection)) == 2
    assert not Collection.objects.filter(tenant=tenant, name="new").exists()


def test_an_agents_documents_are_its_own_unless_they_name_another(setup):
    collection = filled(setup, "private")
    contributor = setup["agents"]["contributor"]
    assert Embedding.objects.get(collection=collection.name, content="the contributor's notes").agent_id == str(
        contributor.id
    )


@pytest.mark.parametrize("visibility", ["private", "team", "organization", "public"])
def test_the_collections_list_and_the_rule_for_one_collection_agree(setup, other_tenant, visibility):
    """`Collection.objects.visible_to` (one query for a list) against `policy.allows` (one collection)."""
    collection = collection_in(setup, visibility)
    callers = [agent_caller(setup, role) for role in setup["agents"]]
    callers += [caller(key_type, setup["tenant"]) for key_type in ("user", "service", "gateway")]
    callers += [caller("admin", other_tenant), OPERATOR]
    for actor in callers:
        listed = Collection.objects.visible_to(actor, include_public=True).filter(pk=collection.pk).exists()
        assert listed == policy.allows(actor, policy.SEARCH, collection), actor


def test_a_contributor_cannot_overwrite_another_members_document_a_moderator_can(setup):
    """Issue 13, finding 5: ingesting with another member's external_id replaced its document."""
    collection = collection_in(setup, "private")
    url = f"/api/v1/collections/{collection.name}/documents"
    owner = factories.client_for(setup["keys"]["owner"])
    written = owner.post(url, {"documents": [{**DOC, "external_id": "spec-1", "content": "the owner's"}]},
                         format="json").json()["documents"][0]  # fmt: skip
    contributor = factories.client_for(setup["keys"]["contributor"])
    response = contributor.post(url, {"documents": [{**DOC, "external_id": "spec-1", "content": "overwritten"}]},
                                format="json")  # fmt: skip
    assert response.status_code == 403, response.json()
    assert "documents[0].external_id" in response.json()["error"]["details"]
    stored = Embedding.objects.get(pk=written["id"])
    assert (stored.content, stored.agent_id) == ("the owner's", str(setup["agents"]["owner"].pk))
    # Its own documents it replaces; a moderator replaces anyone's.
    mine = {**DOC, "external_id": "mine", "content": "v1"}
    assert contributor.post(url, {"documents": [mine]}, format="json").status_code == 200
    assert contributor.post(url, {"documents": [{**mine, "content": "v2"}]}, format="json").status_code == 200
    moderator = factories.client_for(setup["keys"]["moderator"])
    replaced = moderator.post(url, {"documents": [{**DOC, "external_id": "spec-1", "content": "moderated"}]},
                              format="json")  # fmt: skip
    assert replaced.status_code == 200, replaced.json()
    assert Embedding.objects.get(pk=written["id"]).content == "moderated"


def test_an_agent_key_cannot_forge_another_agents_authorship(setup):
    """Issue 13, finding 5: an agent key could set `agent_id` to another agent (and then delete as "its own")."""
    collection = collection_in(setup, "private")
    url = f"/api/v1/collections/{collection.name}/documents"
    contributor = factories.client_for(setup["keys"]["contributor"])
    forged = {**DOC, "content": "forged", "agent_id": str(setup["agents"]["owner"].pk)}
    response = contributor.post(url, {"documents": [forged]}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {
        "documents[0].agent_id": [f"must be {setup['agents']['contributor'].pk} or absent"]
    }
    assert not Embedding.objects.filter(content="forged").exists()
    own = {**DOC, "content": "own", "agent_id": str(setup["agents"]["contributor"].pk)}
    assert contributor.post(url, {"documents": [own]}, format="json").status_code == 200
    # Tenant keys attribute documents to any agent (imports on an agent's behalf).
    admin = factories.client_for(factories.issued_key(setup["tenant"], "admin").raw_key)
    assert admin.post(url, {"documents": [{**forged, "content": "by admin"}]}, format="json").status_code == 200


def test_in_a_collection_of_the_whole_tenant_agents_touch_only_their_own_documents(setup):
    admin = factories.client_for(factories.issued_key(setup["tenant"], "admin").raw_key)
    url = "/api/v1/collections/shared-kb/documents"
    written = admin.post(url, {"documents": [{**DOC, "external_id": "policy"}]}, format="json").json()
    agent = factories.client_for(setup["keys"]["contributor"])
    assert agent.post(url, {"documents": [{**DOC, "external_id": "policy", "content": "x"}]},
                      format="json").status_code == 403  # fmt: skip
    assert agent.delete(f"{url}/{written['documents'][0]['id']}").status_code == 403
    assert agent.post(url, {"documents": [{**DOC, "external_id": "note"}]}, format="json").status_code == 200
    assert agent.delete(f"{url}?external_id=note").json()["deleted"] == 1


def test_another_tenant_neither_sees_nor_filters_by_the_author_of_a_public_document(setup, other_tenant):
    """Issue 13, finding 8: a search hit showed the owner's agent_id, and a filter by it confirmed it."""
    public = collection_in(setup, "public")
    foreign = factories.client_for(setup["keys"]["foreign_admin"])
    (hit,) = search(foreign, public, by_id=True).json()["results"]
    assert hit["agent_id"] is None
    body = {"collection_id": str(public.id), "query": "hybrid", "mode": "bm25",
            "filters": {"agent_id": str(setup["agents"]["owner"].pk)}}  # fmt: skip
    refused = foreign.post("/api/v1/search", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"filters.agent_id": ["not filterable across tenants"]}
    own = factories.client_for(setup["keys"]["owner"])
    (mine,) = own.post("/api/v1/search", body, format="json").json()["results"]
    assert mine["agent_id"] == str(setup["agents"]["owner"].pk)


def test_another_tenant_sees_a_public_workspace_without_the_owners_ids(setup, other_tenant):
    space = factories.workspace(setup["tenant"], owner=setup["agents"]["owner"], visibility="public",
                                team_tags=["finance"], settings={"internal": True})  # fmt: skip
    foreign = factories.client_for(setup["keys"]["foreign_admin"])
    shown = foreign.get(f"/api/v1/workspaces/{space.pk}").json()
    assert (shown["name"], shown["tenant_id"], shown["team_tags"], shown["settings"]) == (space.name, None, None, {})
    listed = foreign.get("/api/v1/workspaces?include_public=true").json()["results"]
    assert [row["tenant_id"] for row in listed if row["id"] == str(space.pk)] == [None]
    own = factories.client_for(factories.issued_key(setup["tenant"], "admin").raw_key)
    assert own.get(f"/api/v1/workspaces/{space.pk}").json()["tenant_id"] == str(setup["tenant"].pk)
