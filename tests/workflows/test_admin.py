"""The operator admin of workflows and executions: the definition is validated on save (a message, never a 500),
executions show their per-step progress read-only, and actions call the same services as the API."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from tasks.models import Task
from tests import factories
from tests.tasks.test_admin import messages_of
from tests.workflows.helpers import active_workflow, run, step_tasks, worker
from workflows.models import Workflow, WorkflowExecution

pytestmark = pytest.mark.django_db

DEFINITION = {"steps": [{"id": "one", "task": {"title": "first"}}, {"id": "two", "task": {"title": "second"}}]}


def add_form(tenant, definition, **fields) -> dict:
    return {"tenant": tenant.pk, "name": "nightly", "description": "", "workflow_type": "sequential",
            "definition": json.dumps(definition), **fields}  # fmt: skip


def test_adding_a_workflow_validates_the_definition_and_goes_through_the_service(admin_client, tenant):
    url = reverse("admin:workflows_workflow_add")
    bad = {"steps": [{"id": "one", "task": {"title": "t"}}, {"id": "two", "task": {}, "extra": 1}]}
    response = admin_client.post(url, add_form(tenant, bad))
    assert response.status_code == 200
    page = response.content.decode()
    assert "definition.steps[1].task.title: is required" in page
    assert "definition.steps[1].extra: unknown member" in page
    assert not Workflow.objects.exists()
    response = admin_client.post(url, add_form(tenant, DEFINITION))
    assert response.status_code == 302
    workflow = Workflow.objects.get(name="nightly")
    assert (workflow.status, workflow.version, workflow.definition) == ("draft", 1, DEFINITION)


def test_a_semantic_error_and_a_duplicate_name_are_form_errors_not_500s(admin_client, tenant):
    cyclic = {"steps": [{"id": "a", "task": {"title": "t"}, "depends_on": ["b"], "when": "true"},
                        {"id": "b", "task": {"title": "t"}, "depends_on": ["a"]}]}  # fmt: skip
    response = admin_client.post(
        reverse("admin:workflows_workflow_add"), add_form(tenant, cyclic, workflow_type="conditional")
    )
    assert "definition.steps[1].depends_on[0]: cycle of depends_on: a -&gt; b -&gt; a" in response.content.decode()
    factories.workflow(tenant, name="nightly", definition=DEFINITION)
    response = admin_client.post(reverse("admin:workflows_workflow_add"), add_form(tenant, DEFINITION))
    assert response.status_code == 200
    assert "Workflow with this Tenant and Name already exists." in response.content.decode()
    assert Workflow.objects.count() == 1


def test_editing_the_definition_bumps_the_version(admin_client, tenant):
    workflow = factories.workflow(tenant, name="nightly", definition=DEFINITION)
    new = {"steps": [{"id": "only", "task": {"title": "only"}}]}
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    response = admin_client.post(url, {"name": "nightly", "description": "", "definition": json.dumps(new)})
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow.refresh_from_db()
    assert (workflow.version, workflow.definition) == (2, new)
    page = admin_client.get(url).content.decode()
    assert 'name="workflow_type"' not in page, "the type is fixed once created"


def test_status_actions_call_the_service_and_report_refusals(admin_client, tenant, admin_api):
    doer = worker(tenant)
    draft = factories.workflow(tenant, name="draft-one", definition=DEFINITION)
    running = Workflow.objects.get(pk=active_workflow(admin_api, "sequential", DEFINITION))
    execution = run(admin_api, running.pk)
    changelist = reverse("admin:workflows_workflow_changelist")

    response = admin_client.post(changelist, {"action": "pause_selected", "_selected_action": [draft.pk, running.pk]},
                                 follow=True)  # fmt: skip
    shown = " ".join(messages_of(response))
    assert "1 workflow(s) now paused." in shown
    assert "'draft-one': A workflow cannot go from draft to paused" in shown
    doer.complete(doer.only_task())
    assert step_tasks(execution["id"], "two") == [], "held while paused"

    admin_client.post(changelist, {"action": "activate_selected", "_selected_action": [running.pk]})
    assert len(step_tasks(execution["id"], "two")) == 1, "resumed through the same service"

    admin_client.post(changelist, {"action": "archive_selected", "_selected_action": [running.pk]})
    assert WorkflowExecution.objects.get(pk=execution["id"]).status == "cancelled"
    assert step_tasks(execution["id"], "two")[0].status == "cancelled"


def test_an_execution_page_shows_per_step_progress_and_its_tasks_read_only(admin_client, tenant, admin_api):
    doer = worker(tenant, "the-doer")
    execution = run(admin_api, active_workflow(admin_api, "sequential", DEFINITION))
    doer.complete(doer.only_task(), {"x": 1})
    url = reverse("admin:workflows_workflowexecution_change", args=[execution["id"]])
    page = admin_client.get(url).content.decode()
    assert step_states(page) == [("1", "one", "completed"), ("2", "two", "running")]
    assert "the-doer" in page
    assert 'name="status"' not in page
    listing = admin_client.get(reverse("admin:workflows_workflowexecution_changelist")).content.decode()
    assert "1/2" in listing
    assert admin_client.post(url, {"status": "completed"}).status_code == 403


def step_states(page: str) -> list[tuple[str, str, str]]:
    """(number, step id, state) of each step drawn on an execution's page, in order."""
    return re.findall(
        r'<strong>(\d+)\. ([^<]+)</strong> <small>[^<]*</small> <span class="wf-state"[^>]*>([^<]+)</span>', page
    )


def test_a_step_whose_task_has_no_agent_is_waiting_for_an_agent_not_running(admin_client, tenant, admin_api):
    definition = {"steps": [{"id": "build", "task": {"title": "build", "capabilities": ["gpu"]}}]}
    execution = run(admin_api, active_workflow(admin_api, "sequential", definition))
    url = reverse("admin:workflows_workflowexecution_change", args=[execution["id"]])
    (task,) = step_tasks(execution["id"], "build")
    assert (task.status, task.assigned_agent_id) == ("pending", None), "no agent has the capability"
    page = admin_client.get(url).content.decode()
    assert step_states(page) == [("1", "build", "waiting for an agent")]
    assert "no agent" in page

    gpu = worker(tenant, "gpu-worker", capabilities=["gpu"])
    gpu.api.post(f"/api/v1/agents/{gpu.agent.pk}/heartbeat")
    page = admin_client.get(url).content.decode()
    assert step_states(page) == [("1", "build", "running")]
    assert "gpu-worker" in page


def test_the_cancel_executions_action(admin_client, tenant, admin_api):
    worker(tenant)
    execution = run(admin_api, active_workflow(admin_api, "sequential", DEFINITION))
    changelist = reverse("admin:workflows_workflowexecution_changelist")
    response = admin_client.post(changelist, {"action": "cancel_selected", "_selected_action": [execution["id"]]},
                                 follow=True)  # fmt: skip
    assert "Cancelled 1 execution(s)." in " ".join(messages_of(response))
    assert WorkflowExecution.objects.get(pk=execution["id"]).error_message == "cancelled by admin"
    assert set(Task.objects.filter(workflow_execution_id=execution["id"]).values_list("status", flat=True)) == {
        "cancelled"
    }
    again = admin_client.post(changelist, {"action": "cancel_selected", "_selected_action": [execution["id"]]},
                              follow=True)  # fmt: skip
    assert "Not cancelled" in " ".join(messages_of(again))
