"""Deleting an agent never orphans its work: refused (with why, and an offer to disable) while it has open tasks;
the database refuses an assigned, in-progress or delegated task without an assignee, whoever writes."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from agents.models import Agent
from agents.services import agent_delete
from mcpadmin.core.errors import Conflict
from tasks.models import Task, TaskStateTransition
from tasks.services import task_transition
from tests import factories
from tests.tasks.helpers import OPERATOR, task_in

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def assigned_over_the_api(admin_api, agent) -> dict:
    response = admin_api.post("/api/v1/tasks", {"title": "work", "assigned_agent_id": str(agent.pk)}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "assigned"
    return response.json()


def test_the_admin_refuses_to_delete_an_agent_with_open_tasks_and_offers_to_disable_it(admin_client, tenant, admin_api):
    agent = factories.agent(tenant, name="busy")
    task = assigned_over_the_api(admin_api, agent)
    url = reverse("admin:agents_agent_delete", args=[agent.pk])

    page = admin_client.get(url)
    assert page.status_code == 302
    (message,) = messages_of(page)
    assert "1 task(s) that are not completed or cancelled" in message
    assert "Disable this agent instead" in message

    refused = admin_client.post(url, {"post": "yes"})  # a confirmation from an older page: the page says why
    assert refused.status_code == 200
    assert "1 task(s) that are not completed or cancelled" in refused.content.decode()
    assert Agent.objects.filter(pk=agent.pk).exists()
    stored = Task.objects.get(pk=task["id"])
    assert (stored.status, stored.assigned_agent_id) == ("assigned", agent.pk)

    # The offered form: the changelist's disable action for this agent.
    disabled = admin_client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "disable_selected", "index": 0, "_selected_action": [agent.pk]},
    )
    assert disabled.status_code == 302
    agent.refresh_from_db()
    assert agent.status == "disabled"
    # The task goes on: its assignee may still start it (over the API, as before).
    started = admin_api.post(f"/api/v1/tasks/{task['id']}/transition", {"to_status": "in_progress"}, format="json")
    assert started.status_code == 200, started.json()


def test_the_bulk_delete_lists_the_refused_agents_as_protected_and_deletes_nothing(admin_client, tenant):
    busy = factories.agent(tenant, name="busy-one")
    task_in(tenant, "in_progress", agent=busy)
    idle = factories.agent(tenant, name="idle-one")
    page = admin_client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "delete_selected", "index": 0, "_selected_action": [busy.pk, idle.pk]},
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "busy-one: The agent &#x27;busy-one&#x27; has 1 task(s)" in text
    assert 'name="post"' not in text, "no confirmation button while something is protected"
    assert Agent.objects.filter(pk__in=[busy.pk, idle.pk]).count() == 2


def test_an_agent_whose_tasks_are_all_final_is_deleted_and_they_keep_their_history(admin_client, tenant):
    agent = factories.agent(tenant)
    done = task_in(tenant, "in_progress", agent=agent)
    task_transition(actor=OPERATOR, task_id=done.pk, to_status="completed")
    response = admin_client.post(reverse("admin:agents_agent_delete", args=[agent.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Agent.objects.filter(pk=agent.pk).exists()
    done.refresh_from_db()
    assert (done.status, done.assigned_agent_id) == ("completed", None)
    assert TaskStateTransition.objects.filter(task=done, to_status="completed").exists()


@pytest.mark.parametrize("status", ["assigned", "in_progress", "delegated", "failed"])
def test_the_service_refuses_while_a_task_is_not_final(tenant, status):
    agent = factories.agent(tenant)
    task_in(tenant, status, agent=agent)
    with pytest.raises(Conflict) as refused:
        agent_delete(actor=OPERATOR, agent_id=agent.pk)
    assert refused.value.code == "agent_has_open_tasks"
    assert refused.value.details == {"open_tasks": 1}
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_an_agent_named_by_history_is_refused_with_a_reason_not_an_error(tenant):
    agent = factories.agent(tenant)
    task = task_in(tenant, "pending")
    TaskStateTransition.objects.create(task=task, to_status="pending", transitioned_by=agent)
    with pytest.raises(Conflict) as refused:
        agent_delete(actor=OPERATOR, agent_id=agent.pk)
    assert refused.value.code == "agent_referenced"
    assert "task state transitions" in refused.value.message


def test_the_last_owner_of_a_workspace_is_refused_before_commit(tenant):
    owner = factories.agent(tenant)
    factories.workspace(tenant, owner=owner)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the workspace and its owner are in; check them now
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    with pytest.raises(Conflict) as refused:
        agent_delete(actor=OPERATOR, agent_id=owner.pk)
    assert "at least one owner" in refused.value.message
    assert Agent.objects.filter(pk=owner.pk).exists()


def test_the_api_has_no_agent_delete(admin_api, tenant):
    agent = factories.agent(tenant)
    assert admin_api.delete(f"/api/v1/agents/{agent.pk}").status_code == 405
    assert Agent.objects.filter(pk=agent.pk).exists()


@pytest.mark.parametrize("status", ["assigned", "in_progress", "delegated"])
def test_the_database_refuses_an_assigned_task_without_assignee(tenant, status):
    task = task_in(tenant, status)
    with pytest.raises(IntegrityError, match="tasks_assignee_required_check"), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(assigned_agent=None)


def test_a_plain_sql_delete_of_a_busy_agent_is_refused_by_the_database(tenant):
    agent = factories.agent(tenant)
    task_in(tenant, "assigned", agent=agent)
    with (
        pytest.raises(IntegrityError, match="tasks_assignee_required_check"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM agents WHERE id = %s", [agent.pk])
