"""Workspace rules beyond the matrix: at least one owner (also under races and raw SQL), member management, input."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from mcpadmin.core.errors import DomainError
from tests import factories
from tests.tasks.helpers import OPERATOR
from workspaces.models import Workspace, WorkspaceMember
from workspaces.services import workspace_member_set_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(tenant):
    owner = factories.agent(tenant)
    space = factories.workspace(tenant, owner=owner)
    return space, owner, factories.client_for(factories.issued_key(tenant, "agent", agent=owner).raw_key)


def test_an_agent_key_creates_a_workspace_it_owns(tenant):
    agent = factories.agent(tenant)
    api = factories.client_for(factories.issued_key(tenant, "agent", agent=agent).raw_key)
    response = api.post("/api/v1/workspaces", {"name": "research", "visibility": "team", "team_tags": ["ml"]},
                        format="json")  # fmt: skip
    assert response.status_code == 201
    assert response.json()["my_role"] == "owner"
    members = api.get(f"/api/v1/workspaces/{response.json()['id']}/members").json()["results"]
    assert [(m["agent_id"], m["role"]) for m in members] == [(str(agent.id), "owner")]
    other = factories.agent(tenant)
    refused = api.post("/api/v1/workspaces", {"name": "x", "owner_agent_id": str(other.id)}, format="json")
    assert refused.status_code == 403


def test_tenant_keys_name_the_first_owner(admin_api, tenant, other_tenant):
    assert admin_api.post("/api/v1/workspaces", {"name": "x"}, format="json").status_code == 400
    foreign = factories.agent(other_tenant)
    bad = admin_api.post("/api/v1/workspaces", {"name": "x", "owner_agent_id": str(foreign.id)}, format="json")
    assert bad.status_code == 400
    assert "owner_agent_id" in bad.json()["error"]["details"]
    owner = factories.agent(tenant)
    assert admin_api.post("/api/v1/workspaces", {"name": "x", "owner_agent_id": str(owner.id)},
                          format="json").status_code == 201  # fmt: skip
    duplicate = admin_api.post("/api/v1/workspaces", {"name": "x", "owner_agent_id": str(owner.id)}, format="json")
    assert duplicate.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x", "visibility": "secret"}, "visibility"),
        ({"name": "x", "team_tags": ["Not A Tag"]}, "team_tags[0]"),
        ({"name": "x", "team_tags": "core"}, "team_tags"),
        ({"name": "x", "settings": [1]}, "settings"),
        ({"name": "x", "tenant_id": "00000000-0000-0000-0000-000000000000"}, "tenant_id"),
    ],
)
def test_bad_workspace_input_is_a_400_naming_the_field(tenant, body, field):
    api = factories.client_for(factories.issued_key(tenant, "agent").raw_key)
    response = api.post("/api/v1/workspaces", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_the_last_owner_cannot_leave_or_step_down(owned):
    space, owner, api = owned
    url = f"/api/v1/workspaces/{space.id}/members/{owner.id}"
    for response in (api.delete(url), api.patch(url, {"role": "admin"}, format="json")):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "last_owner"


def test_transfer_hands_over_and_the_old_owner_steps_down(owned, tenant):
    space, owner, api = owned
    heir = factories.agent(tenant)
    response = api.post(f"/api/v1/workspaces/{space.id}/transfer", {"to_agent_id": str(heir.id)}, format="json")
    assert response.status_code == 200
    roles = dict(WorkspaceMember.objects.filter(workspace=space).values_list("agent_id", "role"))
    assert roles == {heir.id: "owner", owner.id: "admin"}
    assert api.delete(f"/api/v1/workspaces/{space.id}").status_code == 403, "an admin may not delete"
    assert api.delete(f"/api/v1/workspaces/{space.id}/members/{owner.id}").status_code == 204, "any member may leave"


def test_moderators_and_admins_manage_only_the_roles_below_theirs(owned, tenant):
    space, _, owner_api = owned
    moderator, admin, target = factories.agent(tenant), factories.agent(tenant), factories.agent(tenant)
    for agent, role in ((moderator, "moderator"), (admin, "admin"), (target, "viewer")):
        assert owner_api.post(f"/api/v1/workspaces/{space.id}/members", {"agent_id": str(agent.id), "role": role},
                              format="json").status_code == 201  # fmt: skip
    moderator_api = factories.client_for(factories.issued_key(tenant, "agent", agent=moderator).raw_key)
    admin_api = factories.client_for(factories.issued_key(tenant, "agent", agent=admin).raw_key)
    url = f"/api/v1/workspaces/{space.id}/members/{target.id}"
    assert moderator_api.patch(url, {"role": "contributor"}, format="json").status_code == 200
    assert moderator_api.patch(url, {"role": "moderator"}, format="json").status_code == 403
    assert admin_api.patch(url, {"role": "admin"}, format="json").status_code == 200
    assert moderator_api.delete(url).status_code == 403, "a moderator cannot remove an admin"
    assert admin_api.patch(url, {"role": "owner"}, format="json").status_code == 403, "only owners make owners"
    assert admin_api.delete(url).status_code == 204


def test_members_must_be_active_agents_of_the_tenant_and_join_once(owned, tenant, other_tenant):
    space, owner, api = owned
    url = f"/api/v1/workspaces/{space.id}/members"
    foreign = api.post(url, {"agent_id": str(factories.agent(other_tenant).id)}, format="json")
    assert foreign.status_code == 400
    disabled = api.post(url, {"agent_id": str(factories.agent(tenant, status="disabled").id)}, format="json")
    assert disabled.status_code == 409
    assert api.post(url, {"agent_id": str(owner.id)}, format="json").json()["error"]["code"] == "already_member"
    assert api.patch(f"{url}/not-a-uuid", {"role": "viewer"}, format="json").status_code == 404
    assert api.patch(f"{url}/{factories.agent(tenant).id}", {"role": "viewer"}, format="json").status_code == 404


def test_the_database_refuses_a_workspace_without_an_owner(tenant, sql):
    def as_if_committed(statement: str, params: list) -> None:
        sql(statement, params)
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # runs the deferred checks now, as COMMIT would

    space = factories.workspace(tenant)
    with pytest.raises(IntegrityError), transaction.atomic():
        as_if_committed("DELETE FROM mcp.workspace_members WHERE workspace_id = %s", [space.id])
    with pytest.raises(IntegrityError), transaction.atomic():
        as_if_committed("INSERT INTO mcp.workspaces (tenant_id, name) VALUES (%s, 'ownerless')", [tenant.id])
    as_if_committed("DELETE FROM mcp.workspaces WHERE id = %s", [space.id])  # members go with their workspace


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    tenant = factories.service_tenant()
    first, second = factories.agent(tenant), factories.agent(tenant)
    for _ in range(5):
        space = factories.workspace(tenant, owner=first)
        WorkspaceMember.objects.create(workspace=space, agent=second, role="owner")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def demote(agent_id, space=space, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                workspace_member_set_role(actor=OPERATOR, workspace_id=space.pk, agent_id=agent_id, role="admin")
                outcomes.append("ok")
            except DomainError as error:
                outcomes.append(error.code)
            finally:
                connection.close()

        threads = [threading.Thread(target=demote, args=(a.id,)) for a in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["last_owner", "ok"]
        assert WorkspaceMember.objects.filter(workspace=space, role="owner").count() == 1


def test_another_tenant_never_sees_members_of_a_public_workspace(tenant, other_tenant):
    space = factories.workspace(tenant, visibility="public")
    foreign = factories.client_for(factories.issued_key(other_tenant, "admin").raw_key)
    assert foreign.get(f"/api/v1/workspaces/{space.id}").status_code == 200
    members = foreign.get(f"/api/v1/workspaces/{space.id}/members")
    assert members.status_code == 403
    assert str(space.members.first().agent_id) not in members.content.decode()


def test_unknown_and_malformed_workspace_ids_are_404(admin_api):
    for url in ("/api/v1/workspaces/00000000-0000-0000-0000-000000000000", "/api/v1/workspaces/nope"):
        response = admin_api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_selector_and_access_rules_agree(tenant):
    """Workspace.objects.visible_to (one SQL query) and access_for (per object) must never disagree."""
    from mcpadmin.core.actor import Actor
    from workspaces.policy import access_for

    member, team_mate, stranger = (factories.agent(tenant, teams=teams) for teams in ([], ["core"], ["x"]))
    spaces = [factories.workspace(tenant, visibility=v, team_tags=["core"]) for v in
              ("private", "team", "organization", "public")]  # fmt: skip
    WorkspaceMember.objects.create(workspace=spaces[0], agent=member, role="viewer")
    callers = [factories.issued_key(tenant, t, **({"agent": a} if a else {})).key
               for t, a in (("agent", member), ("agent", team_mate), ("agent", stranger), ("user", None),
                            ("admin", None), ("service", None))]  # fmt: skip
    for key in callers:
        principal = Actor.for_key(key)
        listed = set(Workspace.objects.visible_to(principal).values_list("id", flat=True))
        for space in spaces:
            assert (space.id in listed) == access_for(principal, space).visible, (key.key_type, space.visibility)


def test_admin_creates_a_workspace_with_its_owner_and_refuses_to_drop_the_last_one(admin_client, tenant):
    from django.urls import reverse

    from workspaces.models import Workspace

    owner = factories.agent(tenant)
    add = reverse("admin:workspaces_workspace_add")
    form = {"tenant": tenant.pk, "name": "ops", "description": "", "visibility": "private", "team_tags": "",
            "settings": "{}"}  # fmt: skip
    missing_owner = admin_client.post(add, form)
    assert missing_owner.status_code == 200
    assert "needs its first owner" in missing_owner.content.decode()
    assert admin_client.post(add, {**form, "owner": owner.pk}).status_code == 302
    space = Workspace.objects.get(tenant=tenant, name="ops")
    member = space.members.get()
    assert (member.agent_id, member.role) == (owner.id, "owner")

    change = reverse("admin:workspaces_workspace_change", args=[space.pk])
    inline = {"members-TOTAL_FORMS": "1", "members-INITIAL_FORMS": "1", "members-MIN_NUM_FORMS": "0",
              "members-MAX_NUM_FORMS": "1000", "members-0-id": member.pk, "members-0-workspace": space.pk,
              "members-0-agent": owner.pk, "members-0-role": "owner", "members-0-DELETE": "on"}  # fmt: skip
    refused = admin_client.post(change, {**form, **inline})
    assert refused.status_code == 200
    assert "at least one owner" in refused.content.decode()
    assert space.members.filter(role="owner").exists()


def test_the_admin_list_filters_workspaces_by_a_members_role_and_counts_all_members(admin_client, tenant):
    from django.urls import reverse

    from tests.tasks.helpers import OPERATOR
    from workspaces.services import workspace_member_add

    moderated = factories.workspace(tenant, name="moderated")
    plain = factories.workspace(tenant, name="plain")
    for role in ("moderator", "viewer", "viewer"):
        workspace_member_add(actor=OPERATOR, workspace_id=moderated.pk, agent_id=factories.agent(tenant).id, role=role)
    url = reverse("admin:workspaces_workspace_changelist")
    # Two viewers match: a join for the filter would count every member twice (8).
    response = admin_client.get(url, {"member_role": "viewer"})
    assert response.status_code == 200
    listed = list(response.context["cl"].result_list)
    assert [w.name for w in listed] == ["moderated"]
    assert listed[0].member_total == 4, "the owner and three members, not multiplied by the filter"
    assert [w.name for w in admin_client.get(url, {"member_role": "admin"}).context["cl"].result_list] == []
    everything = {w.name for w in admin_client.get(url).context["cl"].result_list}
    assert {"moderated", plain.name} <= everything


def test_deleting_workspaces_in_the_admin_keeps_their_tasks_outside_any_workspace(admin_client, tenant):
    from django.urls import reverse

    from workspaces.models import Workspace

    spaces = [factories.workspace(tenant, name=f"gone-{i}") for i in range(2)]
    task = factories.task(tenant, workspace=spaces[0])
    confirm = admin_client.get(reverse("admin:workspaces_workspace_delete", args=[spaces[0].pk])).content.decode()
    assert "Are you sure" in confirm
    assert "would require deleting" not in confirm
    response = admin_client.post(
        reverse("admin:workspaces_workspace_changelist"),
        {"action": "delete_selected", "_selected_action": [s.pk for s in spaces], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk__in=[s.pk for s in spaces]).exists()
    task.refresh_from_db()
    assert task.workspace_id is None
