"""Pausing holds new steps back and resuming starts them; archiving cancels running executions; retired workflows'
stragglers are cancelled; and who gets a step's task (named agent, capabilities, least open work, pickup later)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.models import Agent
from tasks.models import Task, TaskStateTransition
from tests import factories
from tests.tasks.helpers import task_in
from tests.workflows.helpers import active_workflow, execution, run, step_tasks, steps, worker
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

T = {"title": "t"}


def move(api, workflow_id, to_status):
    response = api.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": to_status}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


# --- pause and resume -------------------------------------------------------------------------------------------


def test_pausing_holds_the_next_step_and_resuming_starts_it(tenant, admin_api):
    doer = worker(tenant)
    workflow_id = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": T}, {"id": "b", "task": T}]})
    started = run(admin_api, workflow_id)
    move(admin_api, workflow_id, "paused")
    assert doer.complete(doer.only_task()).status_code == 200, "a started step still finishes while paused"
    assert steps(admin_api, started["id"]) == {"a": "completed", "b": "held"}
    assert step_tasks(started["id"], "b") == []
    refused = admin_api.post(f"/api/v1/workflows/{workflow_id}/executions", {}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "workflow_not_active")
    move(admin_api, workflow_id, "active")
    assert steps(admin_api, started["id"]) == {"a": "completed", "b": "running"}
    doer.complete(doer.only_task())
    assert execution(admin_api, started["id"])["status"] == "completed"


def test_pausing_holds_the_remaining_map_items(tenant, admin_api):
    mapper, reducer = worker(tenant, capabilities=["map"]), worker(tenant, capabilities=["reduce"])
    definition = {
        "map": {"id": "m", "items": "$.input.xs", "concurrency": 1, "task": {"title": "{{ $.item }}",
                                                                             "capabilities": ["map"]}},
        "reduce": {"id": "r", "task": {"title": "r", "capabilities": ["reduce"]}},
    }  # fmt: skip
    workflow_id = active_workflow(admin_api, "map_reduce", definition)
    started = run(admin_api, workflow_id, {"xs": ["x", "y", "z"]})
    move(admin_api, workflow_id, "paused")
    mapper.complete(mapper.only_task(), 1)
    assert mapper.open_tasks() == []
    assert [t["status"] for t in execution(admin_api, started["id"])["steps"][0]["tasks"]] == [
        "completed", "waiting", "waiting"
    ]  # fmt: skip
    move(admin_api, workflow_id, "active")
    assert mapper.only_task().title == "y"
    mapper.complete(mapper.only_task(), 2)
    mapper.complete(mapper.only_task(), 3)
    reducer.complete(reducer.only_task(), "sum")
    assert execution(admin_api, started["id"])["status"] == "completed"


def test_pausing_holds_the_next_loop_iteration(tenant, admin_api):
    doer = worker(tenant)
    workflow_id = active_workflow(
        admin_api, "loop", {"steps": [{"id": "a", "task": T}], "while": "$.iteration < 2", "max_iterations": 5}
    )
    started = run(admin_api, workflow_id)
    move(admin_api, workflow_id, "paused")
    doer.complete(doer.only_task())
    assert doer.open_tasks() == []
    assert execution(admin_api, started["id"])["iteration"] == 1
    move(admin_api, workflow_id, "active")
    assert execution(admin_api, started["id"])["iteration"] == 2
    doer.complete(doer.only_task())
    done = execution(admin_api, started["id"])
    assert (done["status"], done["output"]["iterations"]) == ("completed", 2)


def test_a_condition_is_evaluated_when_the_step_is_resumed(tenant, admin_api):
    doer = worker(tenant)
    definition = {"steps": [{"id": "a", "task": T}, {"id": "b", "depends_on": ["a"], "when": "$.input.go", "task": T}]}
    workflow_id = active_workflow(admin_api, "conditional", definition)
    started = run(admin_api, workflow_id, {"go": False})
    move(admin_api, workflow_id, "paused")
    doer.complete(doer.only_task())
    assert steps(admin_api, started["id"])["b"] == "held"
    move(admin_api, workflow_id, "active")
    assert execution(admin_api, started["id"])["status"] == "completed"
    assert steps(admin_api, started["id"])["b"] == "skipped"


# --- archive, complete, fail ------------------------------------------------------------------------------------


def test_archiving_cancels_running_executions_and_their_open_tasks(tenant, admin_api):
    doer = worker(tenant)
    workflow_id = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": T}]})
    first, second = run(admin_api, workflow_id), run(admin_api, workflow_id)
    doer.start(step_tasks(first["id"], "a")[0])
    move(admin_api, workflow_id, "archived")
    for started in (first, second):
        done = execution(admin_api, started["id"])
        assert done["status"] == "cancelled"
        assert done["error_message"] == "the workflow was archived: workflow archived"
        assert step_tasks(started["id"], "a")[0].status == "cancelled"
    cancelled = TaskStateTransition.objects.get(task=step_tasks(first["id"], "a")[0], to_status="cancelled")
    assert cancelled.metadata["workflow_engine"]["event"] == "cancel"
    assert cancelled.metadata["actor"] == {"source": "workflow", "operator": "workflow engine"}


def test_a_workflow_with_running_executions_is_not_completed_or_failed(tenant, admin_api):
    doer = worker(tenant)
    workflow_id = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": T}]})
    started = run(admin_api, workflow_id)
    for to_status in ("completed", "failed"):
        response = admin_api.post(
            f"/api/v1/workflows/{workflow_id}/transition", {"to_status": to_status}, format="json"
        )
        assert (response.status_code, response.json()["error"]["code"]) == (409, "executions_running")
        assert response.json()["error"]["details"]["running"] == [started["id"]]
    doer.complete(doer.only_task())
    assert move(admin_api, workflow_id, "completed")["status"] == "completed"


def test_an_execution_left_running_under_a_retired_workflow_is_cancelled_when_it_next_advances(tenant, admin_api):
    """A start that committed just before an archive (docs: the archive cancels what it sees, the engine the rest)."""
    doer = worker(tenant)
    workflow_id = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": T}, {"id": "b", "task": T}]})
    started = run(admin_api, workflow_id)
    Workflow.objects.filter(pk=workflow_id).update(status="archived")
    doer.complete(doer.only_task())
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("cancelled", "the workflow is archived")
    assert step_tasks(started["id"], "b") == []


# --- assignment -------------------------------------------------------------------------------------------------


def capable(tenant, name, **fields):
    fields.setdefault("capabilities", ["x"])
    return worker(tenant, name, **fields)


def one_task_workflow(api, **task_fields) -> str:
    return active_workflow(api, "sequential", {"steps": [{"id": "a", "task": {"title": "a", **task_fields}}]})


def assignee(started) -> Agent | None:
    return Task.objects.get(workflow_execution_id=started["id"]).assigned_agent


def test_the_online_capable_agent_with_the_least_open_work_gets_the_task_ties_by_name(tenant, admin_api):
    busy, idle_b, idle_a = capable(tenant, "busy"), capable(tenant, "idle-b"), capable(tenant, "idle-a")
    capable(tenant, "offline", online=False)
    capable(tenant, "disabled", status="disabled")
    capable(tenant, "stale", last_seen_at=timezone.now() - timedelta(minutes=5))
    worker(tenant, "unskilled", capabilities=["y"])
    task_in(tenant, "in_progress", agent=idle_a.agent)
    for status in ("assigned", "delegated"):
        task_in(tenant, status, agent=busy.agent)
    for status in ("completed", "failed", "cancelled"):
        task_in(tenant, status, agent=idle_b.agent)  # finished or failed work is not open work
    workflow_id = one_task_workflow(admin_api, capabilities=["x"])
    assert assignee(run(admin_api, workflow_id)).name == "idle-b"
    assert assignee(run(admin_api, workflow_id)).name == "idle-a", "a tie (one open task each) goes by name"
    assert assignee(run(admin_api, workflow_id)).name == "idle-b", "1 open task against 2 and 2"
    assert assignee(run(admin_api, workflow_id)).name == "busy", "2 open tasks each: name order"


def test_every_capability_is_needed_and_none_asked_means_any_online_agent(tenant, admin_api):
    capable(tenant, "a-partial", capabilities=["x"])
    capable(tenant, "b-full", capabilities=["x", "y", "z"])
    assert assignee(run(admin_api, one_task_workflow(admin_api, capabilities=["x", "y"]))).name == "b-full"
    assert assignee(run(admin_api, one_task_workflow(admin_api))).name == "a-partial"


def test_a_named_agent_gets_the_task_online_or_not(tenant, admin_api):
    capable(tenant, "online-one")
    named = worker(tenant, "named", online=False)
    started = run(admin_api, one_task_workflow(admin_api, agent_id=named.id))
    assert assignee(started) == named.agent


def test_a_task_waits_pending_until_a_capable_agent_comes_online_by_heartbeat(tenant, admin_api):
    unskilled = worker(tenant, "unskilled", online=False, capabilities=["y"])
    later = worker(tenant, "later", online=False, capabilities=["x"])
    started = run(admin_api, one_task_workflow(admin_api, capabilities=["x"]))
    (waiting,) = step_tasks(started["id"], "a")
    assert (waiting.status, waiting.assigned_agent_id) == ("pending", None)
    assert unskilled.api.post(f"/api/v1/agents/{unskilled.id}/heartbeat").status_code == 200
    waiting.refresh_from_db()
    assert waiting.status == "pending", "an agent without the capability does not take it"
    assert later.api.post(f"/api/v1/agents/{later.id}/heartbeat").status_code == 200
    waiting.refresh_from_db()
    assert (waiting.status, waiting.assigned_agent_id) == ("assigned", later.agent.pk)
    assignment = TaskStateTransition.objects.get(task=waiting, to_status="assigned")
    assert assignment.metadata["workflow_engine"]["event"] == "assign"
    later.complete(waiting, "done")
    assert execution(admin_api, started["id"])["status"] == "completed"


def test_a_task_for_a_disabled_named_agent_waits_until_the_agent_is_enabled(tenant, admin_api):
    named = worker(tenant, "named", status="disabled")
    started = run(admin_api, one_task_workflow(admin_api, agent_id=named.id))
    (waiting,) = step_tasks(started["id"], "a")
    assert waiting.status == "pending"
    response = admin_api.patch(f"/api/v1/agents/{named.id}", {"status": "active"}, format="json")
    assert response.status_code == 200
    waiting.refresh_from_db()
    assert (waiting.status, waiting.assigned_agent_id) == ("assigned", named.agent.pk)


def test_an_agent_given_the_capability_picks_up_the_waiting_task(tenant, admin_api):
    learner = worker(tenant, "learner", capabilities=[])
    started = run(admin_api, one_task_workflow(admin_api, capabilities=["x"]))
    admin_api.patch(f"/api/v1/agents/{learner.id}", {"capabilities": ["x"]}, format="json")
    assert step_tasks(started["id"], "a")[0].assigned_agent == learner.agent


def test_the_dispatch_command_assigns_what_waits_including_released_tasks(tenant, admin_api):
    first = capable(tenant, "a-first")
    started = run(admin_api, one_task_workflow(admin_api, capabilities=["x"]))
    (task,) = step_tasks(started["id"], "a")
    assert first.api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "pending"}, format="json").status_code
    task.refresh_from_db()
    assert task.status == "pending", "a released task waits for the next pickup"
    capable(tenant, "b-second")
    Agent.objects.filter(name="a-first", tenant=tenant).update(last_seen_at=timezone.now() - timedelta(hours=1))
    other_run = run(admin_api, one_task_workflow(admin_api, capabilities=["nobody has this"]))
    out = io.StringIO()
    call_command("dispatch_workflow_tasks", stdout=out)
    task.refresh_from_db()
    assert (task.status, task.assigned_agent.name) == ("assigned", "b-second")
    assert out.getvalue().splitlines()[-1] == "assigned 1 task(s)"
    assert step_tasks(other_run["id"], "a")[0].status == "pending"


def test_pending_tasks_of_finished_executions_are_not_dispatched(tenant, admin_api):
    started = run(admin_api, one_task_workflow(admin_api, capabilities=["x"]))
    admin_api.post(f"/api/v1/workflow-executions/{started['id']}/cancel", {}, format="json")
    capable(tenant, "arrives")
    call_command("dispatch_workflow_tasks", stdout=io.StringIO())
    assert step_tasks(started["id"], "a")[0].status == "cancelled"


def test_other_tenants_agents_never_get_the_task(tenant, other_tenant, admin_api):
    stranger = worker(other_tenant, "stranger", capabilities=["x"])
    started = run(admin_api, one_task_workflow(admin_api, capabilities=["x"]))
    stranger.api.post(f"/api/v1/agents/{stranger.id}/heartbeat")
    call_command("dispatch_workflow_tasks", stdout=io.StringIO())
    assert step_tasks(started["id"], "a")[0].status == "pending"


def test_workflow_tasks_carry_their_requirements_and_history(tenant, admin_api):
    doer = capable(tenant, "doer")
    workflow_id = one_task_workflow(admin_api, capabilities=["x"], priority="high", max_retries=2)
    started = run(admin_api, workflow_id)
    (task,) = step_tasks(started["id"], "a")
    assert (task.priority, task.max_retries, task.assigned_agent) == ("high", 2, doer.agent)
    assert task.metadata["workflow"] == {"workflow_id": workflow_id, "execution_id": started["id"], "step": "a",
                                         "slot": 0, "iteration": 1, "capabilities": ["x"]}  # fmt: skip
    created = TaskStateTransition.objects.get(task=task)
    assert created.reason == f"created by workflow execution {started['id']}, step a"
    body = doer.api.get(f"/api/v1/tasks/{task.pk}").json()
    assert (body["workflow_execution_id"], body["workflow_step"]) == (started["id"], "a")


def test_an_admin_cancelling_a_step_task_fails_the_step(tenant, admin_api):
    capable(tenant, "doer")
    started = run(admin_api, one_task_workflow(admin_api, capabilities=["x"]))
    (task,) = step_tasks(started["id"], "a")
    admin_api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "cancelled"}, format="json")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step a failed: the task was cancelled")


def test_an_unrelated_task_change_does_not_touch_executions(tenant, admin_api):
    started = run(admin_api, one_task_workflow(admin_api))
    plain = factories.task(tenant, status="in_progress", assigned_agent=factories.agent(tenant))
    admin_api.post(f"/api/v1/tasks/{plain.pk}/transition", {"to_status": "completed"}, format="json")
    assert execution(admin_api, started["id"])["status"] == "running"
