"""The operator admin of agents and tasks: pages render, saving and actions go through the services, refusals are
messages (never a 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from mcpadmin.core.idempotency import idempotency_storage_key
from tasks.models import Task, TaskStateTransition
from tasks.services import task_delegate
from tests import factories
from tests.tasks.helpers import OPERATOR, agent_api, task_in

pytestmark = pytest.mark.django_db


NO_INLINES = {"transitions-TOTAL_FORMS": 0, "transitions-INITIAL_FORMS": 0, "delegations-TOTAL_FORMS": 0,
              "delegations-INITIAL_FORMS": 0}  # fmt: skip


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_agent_list_shows_an_online_badge_and_filters_on_it(admin_client, tenant):
    factories.agent(tenant, name="alive", last_seen_at=timezone.now())
    factories.agent(tenant, name="gone", last_seen_at=timezone.now() - timedelta(hours=1))
    page = admin_client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert "● online" in page
    assert "● offline" in page
    page = admin_client.get(reverse("admin:agents_agent_changelist") + "?online=yes").content.decode()
    assert "alive" in page
    assert "gone" not in page


def test_adding_an_agent_goes_through_the_service_and_a_duplicate_name_is_a_form_error(admin_client, tenant):
    url = reverse("admin:agents_agent_add")
    form = {"tenant": tenant.pk, "name": "new", "description": "", "capabilities": "a,b", "teams": "",
            "status": "active", "metadata": "{}"}  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 302
    assert Agent.objects.get(tenant=tenant, name="new").capabilities == ["a", "b"]
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_the_task_page_shows_its_history_read_only(admin_client, tenant):
    task = task_in(tenant, "in_progress")
    helper = factories.agent(tenant, name="helper-agent")
    task_delegate(actor=OPERATOR, task_id=task.pk, to_agent_id=helper.pk, delegation_type="consultation", reason="ask")
    page = admin_client.get(reverse("admin:tasks_task_change", args=[task.pk])).content.decode()
    assert "helper-agent" in page
    assert "Task state transitions" in page
    assert 'name="transitions-0-reason"' not in page, "history is not editable"


def test_adding_a_task_creates_it_through_the_service(admin_client, tenant):
    agent = factories.agent(tenant)
    response = admin_client.post(
        reverse("admin:tasks_task_add"),
        {"tenant": tenant.pk, "title": "from the admin", "description": "", "priority": "high",
         "assigned_agent": agent.pk, "input_data": "{}", "metadata": "{}", "max_retries": 3, "max_delegations": 3,
         **NO_INLINES},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    task = Task.objects.get(title="from the admin")
    assert (task.status, task.assigned_agent_id) == ("assigned", agent.pk)
    assert list(TaskStateTransition.objects.filter(task=task).values_list("to_status", flat=True)) == ["assigned"]


def test_an_agent_of_another_tenant_is_a_form_error(admin_client, tenant, other_tenant):
    response = admin_client.post(
        reverse("admin:tasks_task_add"),
        {"tenant": tenant.pk, "title": "t", "priority": "medium", "assigned_agent": factories.agent(other_tenant).pk,
         "input_data": "{}", "metadata": "{}", "max_retries": 3, "max_delegations": 3, **NO_INLINES},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Not of the task&#x27;s tenant." in response.content.decode()
    assert not Task.objects.filter(title="t").exists()


def _change_form(task: Task, **changes) -> dict:
    data = {
        "title": task.title, "description": task.description, "priority": task.priority, "deadline_0": "",
        "deadline_1": "", "auto_escalate": "false", "escalation_timeout": "", **NO_INLINES,
    }  # fmt: skip
    return data | changes


def test_editing_a_task_changes_only_what_the_api_may_change(admin_client, tenant):
    task = task_in(tenant, "in_progress")
    response = admin_client.post(
        reverse("admin:tasks_task_change", args=[task.pk]), _change_form(task, title="renamed", status="completed")
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.title, task.status) == ("renamed", "in_progress")


def test_a_refusal_of_the_service_while_saving_is_a_message_not_a_500(admin_client, tenant):
    task = task_in(tenant, "in_progress")
    url = reverse("admin:tasks_task_change", args=[task.pk])
    response = admin_client.post(url, _change_form(task, auto_escalate="true"))
    assert response.status_code == 302
    assert any("auto_escalate needs an escalation timeout" in m for m in messages_of(response))
    assert Task.objects.get(pk=task.pk).auto_escalate is False


def test_a_final_task_is_read_only(admin_client, tenant):
    task = task_in(tenant, "completed")
    page = admin_client.get(reverse("admin:tasks_task_change", args=[task.pk])).content.decode()
    assert 'name="title"' not in page


def test_the_cancel_action_uses_the_state_machine_and_reports_refusals(admin_client, tenant):
    open_task, done_task = task_in(tenant, "in_progress"), task_in(tenant, "completed", title="finished one")
    response = admin_client.post(
        reverse("admin:tasks_task_changelist"),
        {"action": "cancel_selected", "_selected_action": [open_task.pk, done_task.pk]},
        follow=True,
    )
    assert response.status_code == 200
    shown = " ".join(messages_of(response))
    assert "Cancelled 1 task(s)." in shown
    assert "'finished one': A task cannot go from completed to cancelled" in shown
    assert Task.objects.get(pk=open_task.pk).status == "cancelled"
    transition = TaskStateTransition.objects.get(task=open_task)
    assert transition.metadata["actor"] == {"source": "admin", "operator": "admin"}


def test_the_escalate_now_action(admin_client, tenant):
    task = task_in(tenant, "assigned", priority="low")
    response = admin_client.post(
        reverse("admin:tasks_task_changelist"),
        {"action": "escalate_selected", "_selected_action": [task.pk]},
        follow=True,
    )
    assert "Escalated 1 task(s)." in " ".join(messages_of(response))
    assert Task.objects.get(pk=task.pk).priority == "medium"
    assert TaskStateTransition.objects.get(task=task).reason == "escalated by admin"


def test_disable_agents_action(admin_client, tenant):
    agent = factories.agent(tenant)
    admin_client.post(
        reverse("admin:agents_agent_changelist"), {"action": "disable_selected", "_selected_action": [agent.pk]}
    )
    assert Agent.objects.get(pk=agent.pk).status == "disabled"


def test_idempotency_keys_are_found_by_the_clients_key(admin_client, admin_api, tenant):
    for client_key in ("client-key-9", "client-key-10"):
        admin_api.post("/api/v1/tasks", {"title": client_key}, format="json", HTTP_IDEMPOTENCY_KEY=client_key)
    page = admin_client.get(reverse("admin:tasks_taskidempotencykey_changelist") + "?q=client-key-9").content.decode()
    assert idempotency_storage_key(tenant.id, "client-key-9") in page
    assert idempotency_storage_key(tenant.id, "client-key-10") not in page


def test_history_rows_name_the_agent_and_the_actor_with_readable_times(admin_client, tenant):
    api, worker = agent_api(tenant, factories.agent(tenant, name="worker-bee"))
    task = task_in(tenant, "assigned", agent=worker)
    assert (
        api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "in_progress"}, format="json").status_code == 200
    )
    helper = factories.agent(tenant, name="helper-agent")
    task_delegate(actor=OPERATOR, task_id=task.pk, to_agent_id=helper.pk, delegation_type="consultation")
    admin_client.cookies["mcpadmin_tz"] = "Asia/Tokyo"
    page = admin_client.get(reverse("admin:tasks_task_change", args=[task.pk])).content.decode()
    transition = TaskStateTransition.objects.get(task=task, to_status="in_progress")
    key_url = reverse("admin:apikeys_apikey_change", args=[transition.metadata["actor"]["api_key_id"]])
    assert f'<a href="{key_url}">agent key</a>' in page, "the actor: the agent's key, linked"
    assert "worker-bee" in page, "the agent"
    assert "operator tester" in page, "the delegation's actor"
    assert "JST" in page, "times in the operator's zone"
    assert "<small>(just now)</small>" in page, "and how long ago"
    assert str(transition.metadata["actor"]["api_key_id"]) not in page.replace(key_url, "")
