"""Every caller x visibility x action on workspaces, through the API, including keys of other tenants.

The expectations are written out here from the rules (docs, "Workspaces"), not computed by the code
under test: a change of the rules must change this file too.
"""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db

VISIBILITIES = ["private", "team", "organization", "public"]
MEMBER_ROLES = ["owner", "admin", "moderator", "contributor", "viewer"]
CALLERS = [*MEMBER_ROLES, "outsider_agent", "team_agent", "user_key", "tenant_admin", "tenant_service",
           "foreign_admin", "foreign_agent"]  # fmt: skip
RANK = {"viewer": 0, "contributor": 1, "moderator": 2, "admin": 3, "owner": 4}

# action -> (least role, expected success status)
WRITES = {
    "patch": ("admin", 200),
    "add_viewer": ("moderator", 201),
    "add_moderator": ("admin", 201),
    "add_owner": ("owner", 201),
    "transfer": ("owner", 200),
    "delete": ("owner", 204),
}


def visible(caller: str, visibility: str) -> bool:
    if caller in MEMBER_ROLES or caller in ("tenant_admin", "tenant_service"):
        return True
    if caller.startswith("foreign"):
        return visibility == "public"
    if caller == "team_agent" and visibility == "team":
        return True
    return visibility in ("organization", "public")


def role(caller: str) -> str | None:
    if caller in MEMBER_ROLES:
        return caller
    return "owner" if caller in ("tenant_admin", "tenant_service") else None


def expected(caller: str, visibility: str, action: str) -> int:
    if action == "read":
        return 200 if visible(caller, visibility) else 404
    if action == "members":
        if not visible(caller, visibility):
            return 404
        return 403 if caller.startswith("foreign") else 200
    if caller == "user_key":
        return 403  # user keys only read workspaces (key-type matrix)
    if not visible(caller, visibility):
        return 404
    least, success = WRITES[action]
    caller_role = role(caller)
    return success if caller_role is not None and RANK[caller_role] >= RANK[least] else 403


@pytest.fixture
def world(tenant, other_tenant):
    agents = {name: factories.agent(tenant, name=name) for name in [*MEMBER_ROLES, "outsider_agent", "spare"]}
    agents["team_agent"] = factories.agent(tenant, name="team_agent", teams=["core", "other"])
    keys = {name: factories.issued_key(tenant, "agent", agent=agents[name]).raw_key
            for name in [*MEMBER_ROLES, "outsider_agent", "team_agent"]}  # fmt: skip
    keys["user_key"] = factories.issued_key(tenant, "user").raw_key
    keys["tenant_admin"] = factories.issued_key(tenant, "admin").raw_key
    keys["tenant_service"] = factories.issued_key(tenant, "service").raw_key
    keys["foreign_admin"] = factories.issued_key(other_tenant, "admin").raw_key
    keys["foreign_agent"] = factories.issued_key(other_tenant, "agent").raw_key
    return {"tenant": tenant, "agents": agents, "keys": keys}


def make_workspace(world: dict, visibility: str):
    from workspaces.models import WorkspaceMember

    agents = world["agents"]
    space = factories.workspace(world["tenant"], owner=agents["owner"], visibility=visibility, team_tags=["core"])
    for name in MEMBER_ROLES[1:]:
        WorkspaceMember.objects.create(workspace=space, agent=agents[name], role=name)
    return space


def call(world: dict, caller: str, action: str, space) -> int:
    api = factories.client_for(world["keys"][caller])
    spare = str(world["agents"]["spare"].id)
    url = f"/api/v1/workspaces/{space.id}"
    if action == "read":
        return api.get(url).status_code
    if action == "members":
        return api.get(f"{url}/members").status_code
    if action == "patch":
        return api.patch(url, {"description": "changed"}, format="json").status_code
    if action.startswith("add_"):
        return api.post(f"{url}/members", {"agent_id": spare, "role": action[4:]}, format="json").status_code
    if action == "transfer":
        return api.post(f"{url}/transfer", {"to_agent_id": spare}, format="json").status_code
    return api.delete(url).status_code


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("caller", CALLERS)
def test_permission_matrix(world, caller, visibility):
    outcomes, expectations = {}, {}
    for action in ["read", "members", *WRITES]:
        space = make_workspace(world, visibility)
        outcomes[action] = call(world, caller, action, space)
        expectations[action] = expected(caller, visibility, action)
    assert outcomes == expectations


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("caller", CALLERS)
def test_lists_show_exactly_the_visible_workspaces(world, caller, visibility):
    space = make_workspace(world, visibility)
    api = factories.client_for(world["keys"][caller])
    suffix = "?include_public=true" if caller.startswith("foreign") else ""
    listed = {row["id"] for row in api.get(f"/api/v1/workspaces{suffix}").json()["results"]}
    assert (str(space.id) in listed) == visible(caller, visibility)
    if caller.startswith("foreign"):
        assert str(space.id) not in {r["id"] for r in api.get("/api/v1/workspaces").json()["results"]}
