"""Tasks that belong to a workspace: every caller x visibility x action through the API (keys of other tenants and a
public workspace included), then the rules about assignees and delegates.

The expectations are written out from the rules (docs, "Workspaces": tasks in a workspace), not computed by the
code under test.
"""

from __future__ import annotations

import pytest

from tasks.models import Task
from tests import factories
from tests.api_cases import error_of
from tests.tasks.helpers import task_in
from workspaces.models import WorkspaceMember

pytestmark = pytest.mark.django_db

VISIBILITIES = ["private", "team", "organization", "public"]
MEMBER_ROLES = ["owner", "admin", "moderator", "contributor", "viewer"]
CALLERS = [*MEMBER_ROLES, "outsider_agent", "team_agent", "user_key", "tenant_admin", "tenant_service",
           "foreign_admin", "foreign_agent"]  # fmt: skip
RANK = {"viewer": 0, "contributor": 1, "moderator": 2, "admin": 3, "owner": 4}
ACTIONS = ["read", "list", "workspace_list", "create", "cancel_others", "edit_others"]


def same_tenant(caller: str) -> bool:
    return not caller.startswith("foreign")


def reads_workspace(caller: str, visibility: str) -> bool:
    if caller in MEMBER_ROLES or caller in ("tenant_admin", "tenant_service"):
        return True
    if not same_tenant(caller):
        return visibility == "public"
    if caller == "team_agent" and visibility == "team":
        return True
    return visibility in ("organization", "public")


def role(caller: str) -> str | None:
    if caller in MEMBER_ROLES:
        return caller
    return "owner" if caller in ("tenant_admin", "tenant_service") else None


def at_least(caller: str, least: str) -> bool:
    caller_role = role(caller)
    return caller_role is not None and RANK[caller_role] >= RANK[least]


def expected(caller: str, visibility: str, action: str) -> int | bool:
    readable = reads_workspace(caller, visibility)
    if action == "read":  # GET /tasks/{id}: tenant-scoped
        return 200 if readable and same_tenant(caller) else 404
    if action == "list":  # is it in GET /tasks?
        return readable and same_tenant(caller)
    if action == "workspace_list":  # GET /workspaces/{id}/tasks: crosses tenants for public workspaces
        return 200 if readable else 404
    if action == "create":
        if not same_tenant(caller) or not readable:
            return 400  # "no such workspace in this tenant": nothing revealed
        return 201 if at_least(caller, "contributor") else 403
    # cancel_others, edit_others: a task created by an admin key, assigned to another agent
    if not readable or not same_tenant(caller):
        return 404
    return 200 if at_least(caller, "moderator") else 403


@pytest.fixture
def world(tenant, other_tenant):
    agents = {name: factories.agent(tenant, name=name) for name in [*MEMBER_ROLES, "outsider_agent", "worker"]}
    agents["team_agent"] = factories.agent(tenant, name="team_agent", teams=["core"])
    keys = {name: factories.issued_key(tenant, "agent", agent=agents[name]).raw_key
            for name in [*MEMBER_ROLES, "outsider_agent", "team_agent"]}  # fmt: skip
    keys["user_key"] = factories.issued_key(tenant, "user").raw_key
    keys["tenant_admin"] = factories.issued_key(tenant, "admin").raw_key
    keys["tenant_service"] = factories.issued_key(tenant, "service").raw_key
    keys["foreign_admin"] = factories.issued_key(other_tenant, "admin").raw_key
    keys["foreign_agent"] = factories.issued_key(other_tenant, "agent").raw_key
    return {"tenant": tenant, "agents": agents, "keys": keys, "admin_key": factories.issued_key(tenant, "admin").key}


def make_workspace(world: dict, visibility: str):
    agents = world["agents"]
    space = factories.workspace(world["tenant"], owner=agents["owner"], visibility=visibility, team_tags=["core"])
    for name in [*MEMBER_ROLES[1:], "worker"]:
        WorkspaceMember.objects.create(workspace=space, agent=agents[name], role="contributor" if name == "worker"
                                       else name)  # fmt: skip
    return space


def call(world: dict, caller: str, action: str, space) -> int | bool:
    api = factories.client_for(world["keys"][caller])
    task = task_in(world["tenant"], "assigned", agent=world["agents"]["worker"], workspace=space,
                   created_by_key=world["admin_key"])  # fmt: skip
    if action == "read":
        return api.get(f"/api/v1/tasks/{task.pk}").status_code
    if action == "list":
        return str(task.pk) in {row["id"] for row in api.get("/api/v1/tasks?limit=200").json()["results"]}
    if action == "workspace_list":
        response = api.get(f"/api/v1/workspaces/{space.pk}/tasks")
        if response.status_code == 200:
            assert [row["id"] for row in response.json()["results"]] == [str(task.pk)]
        return response.status_code
    if action == "create":
        return api.post("/api/v1/tasks", {"title": "new", "workspace_id": str(space.pk)}, format="json").status_code
    if action == "cancel_others":
        return api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "cancelled"}, format="json").status_code
    return api.patch(f"/api/v1/tasks/{task.pk}", {"title": "renamed"}, format="json").status_code


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("caller", CALLERS)
def test_permission_matrix(world, caller, visibility):
    outcomes = {action: call(world, caller, action, make_workspace(world, visibility)) for action in ACTIONS}
    assert outcomes == {action: expected(caller, visibility, action) for action in ACTIONS}


# --- specific rules ---------------------------------------------------------------------------------------------


@pytest.fixture
def space(tenant):
    owner = factories.agent(tenant, name="owner")
    return factories.workspace(tenant, owner=owner, visibility="private")


def member(tenant, space, role: str, name: str | None = None):
    agent = factories.agent(tenant, name=name or factories.unique(role))
    WorkspaceMember.objects.create(workspace=space, agent=agent, role=role)
    return agent, factories.client_for(factories.issued_key(tenant, "agent", agent=agent).raw_key)


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_contributor_creates_tasks_in_its_workspace_and_cancels_and_edits_its_own_only(tenant, space):
    _, contributor = member(tenant, space, "contributor")
    _, colleague = member(tenant, space, "contributor")
    mine = contributor.post("/api/v1/tasks", {"title": "mine", "workspace_id": str(space.pk)}, format="json")
    assert mine.status_code == 201, mine.json()
    theirs = colleague.post("/api/v1/tasks", {"title": "theirs", "workspace_id": str(space.pk)}, format="json")
    assert contributor.patch(f"/api/v1/tasks/{mine.json()['id']}", {"title": "x"}, format="json").status_code == 200
    assert contributor.patch(f"/api/v1/tasks/{theirs.json()['id']}", {"title": "x"}, format="json").status_code == 403
    cancel = {"to_status": "cancelled"}
    assert contributor.post(f"/api/v1/tasks/{theirs.json()['id']}/transition", cancel, format="json").status_code == 403
    assert contributor.post(f"/api/v1/tasks/{mine.json()['id']}/transition", cancel, format="json").status_code == 200
    outside = contributor.post("/api/v1/tasks", {"title": "no workspace"}, format="json")
    assert error(outside) == (403, "action_not_allowed"), "outside workspaces agent keys still create nothing"


def test_a_contributor_demoted_to_viewer_no_longer_works_its_task(tenant, space):
    agent, api = member(tenant, space, "contributor")
    task = task_in(tenant, "assigned", agent=agent, workspace=space)
    assert (
        api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "in_progress"}, format="json").status_code == 200
    )
    WorkspaceMember.objects.filter(workspace=space, agent=agent).update(role="viewer")
    refused = api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "completed"}, format="json")
    assert error(refused) == (403, "workspace_forbidden")
    assert refused.json()["error"]["details"] == {"action": "write_content", "role": "viewer"}
    assert api.get(f"/api/v1/tasks/{task.pk}").status_code == 200, "it still reads it"
    other = factories.agent(tenant)
    handoff = {"to_agent_id": str(other.pk), "delegation_type": "consultation"}
    assert error(api.post(f"/api/v1/tasks/{task.pk}/delegate", handoff, format="json")) == (403, "workspace_forbidden")


def test_a_workspace_task_goes_only_to_agents_that_may_write_there(tenant, space, admin_api):
    viewer, _ = member(tenant, space, "viewer")
    contributor, _ = member(tenant, space, "contributor")
    outsider = factories.agent(tenant)
    body = {"title": "t", "workspace_id": str(space.pk)}
    refused = admin_api.post("/api/v1/tasks", {**body, "assigned_agent_id": str(viewer.pk)}, format="json")
    assert error(refused) == (409, "agent_lacks_workspace_role")
    assert refused.json()["error"]["details"]["assigned_agent_id"] == [str(viewer.pk)]
    created = admin_api.post("/api/v1/tasks", {**body, "assigned_agent_id": str(contributor.pk)}, format="json")
    assert created.status_code == 201
    pending = admin_api.post("/api/v1/tasks", body, format="json").json()["id"]
    assign = {"to_status": "assigned", "agent_id": str(outsider.pk)}
    assert error(admin_api.post(f"/api/v1/tasks/{pending}/transition", assign, format="json"))[0] == 409
    task_id = created.json()["id"]
    handoff = {"to_agent_id": str(viewer.pk), "delegation_type": "handoff"}
    assert error(admin_api.post(f"/api/v1/tasks/{task_id}/delegate", handoff, format="json"))[0] == 409
    consult = {"to_agent_id": str(viewer.pk), "delegation_type": "consultation"}
    assert admin_api.post(f"/api/v1/tasks/{task_id}/delegate", consult, format="json").status_code == 200
    stranger = {"to_agent_id": str(outsider.pk), "delegation_type": "consultation"}
    refused = admin_api.post(f"/api/v1/tasks/{task_id}/delegate", stranger, format="json")
    assert error(refused) == (409, "agent_lacks_workspace_role"), "a private workspace's task is not shared outside"
    assert Task.objects.get(pk=task_id).delegation_count == 1


def test_lists_filter_by_workspace_readability_for_user_and_agent_keys(tenant, admin_api):
    owner = factories.agent(tenant)
    private = factories.workspace(tenant, owner=owner, visibility="private")
    organization = factories.workspace(tenant, owner=owner, visibility="organization")
    outside = factories.task(tenant, title="outside")
    hidden = factories.task(tenant, title="hidden", workspace=private)
    shared = factories.task(tenant, title="shared", workspace=organization)
    user = factories.client_for(factories.issued_key(tenant, "user").raw_key)
    assert {row["title"] for row in user.get("/api/v1/tasks").json()["results"]} == {"outside", "shared"}
    assert user.get(f"/api/v1/tasks/{hidden.pk}").status_code == 404
    assert user.get(f"/api/v1/tasks?workspace_id={private.pk}").json()["count"] == 0
    agent_api = factories.client_for(factories.issued_key(tenant, "agent").raw_key)
    assert {row["title"] for row in agent_api.get("/api/v1/tasks").json()["results"]} == {"shared"}
    admin_titles = {row["title"] for row in admin_api.get("/api/v1/tasks").json()["results"]}
    assert admin_titles == {"outside", "hidden", "shared"}
    assert outside.workspace_id is None
    assert shared.workspace_id == organization.pk


def test_the_assignee_keeps_reading_its_task_in_a_workspace_it_cannot_read(tenant, space):
    agent = factories.agent(tenant)
    api = factories.client_for(factories.issued_key(tenant, "agent", agent=agent).raw_key)
    task = task_in(tenant, "assigned", agent=agent, workspace=space)
    assert api.get(f"/api/v1/tasks/{task.pk}").status_code == 200
    refused = api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "in_progress"}, format="json")
    assert error(refused) == (403, "workspace_forbidden"), "but works it only as a contributor"


def test_keys_of_other_tenants_read_a_public_workspaces_tasks_without_the_owners_ids(tenant, other_tenant, admin_key):
    owner = factories.agent(tenant)
    public = factories.workspace(tenant, owner=owner, visibility="public")
    task = task_in(tenant, "assigned", agent=owner, workspace=public, created_by_key=admin_key.key,
                   metadata={"internal": "note"})  # fmt: skip
    foreign = factories.client_for(factories.issued_key(other_tenant, "user").raw_key)
    (row,) = foreign.get(f"/api/v1/workspaces/{public.pk}/tasks").json()["results"]
    assert (row["id"], row["title"], row["status"]) == (str(task.pk), task.title, "assigned")
    assert (row["assigned_agent_id"], row["created_by_key_id"], row["metadata"]) == (None, None, {})
    assert foreign.get(f"/api/v1/tasks/{task.pk}").status_code == 404, "the tasks API stays within the tenant"
    cancel = foreign.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "cancelled"}, format="json")
    assert cancel.status_code == 404
    own = factories.client_for(admin_key.raw_key).get(f"/api/v1/workspaces/{public.pk}/tasks").json()["results"]
    assert own[0]["assigned_agent_id"] == str(owner.pk)
    status_filtered = foreign.get(f"/api/v1/workspaces/{public.pk}/tasks?status=completed").json()
    assert status_filtered["count"] == 0
    assert foreign.get(f"/api/v1/workspaces/{public.pk}/tasks?status=nope").status_code == 400
    assert row["tenant_id"] is None, "issue 13, finding 8: not even the owning tenant's id"
    # Issue 13, finding 8: a filter on a hidden id would confirm it (200 with the task, or 200 empty).
    for name, value in (
        ("assigned_agent_id", owner.pk),
        ("parent_task_id", task.pk),
        ("workflow_execution_id", task.pk),
    ):
        confirmed = foreign.get(f"/api/v1/workspaces/{public.pk}/tasks?{name}={value}")
        assert error_of(confirmed) == (400, "invalid", [name])
    assert (
        factories.client_for(admin_key.raw_key)
        .get(f"/api/v1/workspaces/{public.pk}/tasks?assigned_agent_id={owner.pk}")
        .json()["count"]
        == 1
    ), "the owning tenant filters as before"


def test_a_workspace_task_list_of_a_workspace_the_caller_cannot_read_is_404(tenant, other_tenant, space):
    for api in (
        factories.client_for(factories.issued_key(other_tenant, "admin").raw_key),
        factories.client_for(factories.issued_key(tenant, "user").raw_key),
    ):
        assert api.get(f"/api/v1/workspaces/{space.pk}/tasks").status_code == 404
    assert (
        factories.client_for(factories.issued_key(tenant, "user").raw_key)
        .get("/api/v1/workspaces/not-a-uuid/tasks")
        .status_code
        == 404
    )
