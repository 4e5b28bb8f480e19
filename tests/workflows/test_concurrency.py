"""Races, with real threads and their own database connections: tasks of one execution finishing at once advance it
exactly once (no duplicate step, no lost step), and the engine's cancellations never deadlock with agents' writes."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import transaction

from tasks.models import Task
from tests import factories
from tests.tasks.helpers import run_concurrently
from tests.tasks.test_concurrency import lock_waiters
from tests.workflows.helpers import active_workflow, run, step_tasks, worker
from workflows.models import WorkflowExecution

pytestmark = pytest.mark.django_db(transaction=True)

JOIN = {
    "steps": [
        {"id": "a", "task": {"title": "a", "capabilities": ["a"]}},
        {"id": "b", "task": {"title": "b", "capabilities": ["b"]}},
        {"id": "c", "depends_on": ["a", "b"], "when": "$.steps.a.status == 'completed'", "task": {"title": "c"}},
    ]
}


def setup_join(executions: int = 1):
    tenant = factories.service_tenant()
    admin = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    workers = {name: worker(tenant, name, capabilities=[name]) for name in "ab"}
    workflow_id = active_workflow(admin, "conditional", JOIN)
    started = [run(admin, workflow_id)["id"] for _ in range(executions)]
    for execution_id in started:
        for name, doer in workers.items():
            doer.start(step_tasks(execution_id, name)[0])
    return workers, started


def finish(workers, execution_id, name):
    task = step_tasks(execution_id, name)[0]
    body = {"to_status": "completed", "output_data": {"by": name}}
    return workers[name].api.post(f"/api/v1/tasks/{task.pk}/transition", body, format="json").status_code


def assert_joined_once(execution_id):
    execution = WorkflowExecution.objects.get(pk=execution_id)
    nodes = execution.state["nodes"]
    assert (nodes["a"]["status"], nodes["b"]["status"], nodes["c"]["status"]) == ("completed", "completed", "running")
    (joined,) = step_tasks(execution_id, "c")  # no duplicate, no lost step
    assert nodes["c"]["slots"][0]["task_id"] == str(joined.pk)
    assert set(execution.state["tasks"]) == {str(t.pk) for t in Task.objects.filter(workflow_execution=execution)}


def test_two_tasks_finishing_at_once_start_the_joining_step_exactly_once():
    """Both transitions have read their task before either writes: they queue on the execution's row (held here
    until both wait), and each applies its outcome to the state the other left."""
    workers, (execution_id,) = setup_join()
    results: list[int] = []
    racers = threading.Thread(
        target=lambda: results.extend(run_concurrently(2, lambda i: finish(workers, execution_id, "ab"[i])))
    )
    with transaction.atomic():
        WorkflowExecution.objects.select_for_update().get(pk=execution_id)
        racers.start()
        deadline = time.monotonic() + 30
        while lock_waiters() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock_waiters() == 2
    racers.join()
    assert results == [200, 200]
    assert_joined_once(execution_id)


def test_many_executions_each_joined_once_when_their_tasks_finish_together():
    workers, started = setup_join(executions=4)
    pairs = [(execution_id, name) for execution_id in started for name in "ab"]
    results = run_concurrently(len(pairs), lambda i: finish(workers, *pairs[i]))
    assert results == [200] * len(pairs)
    for execution_id in started:
        assert_joined_once(execution_id)


def test_two_successes_at_once_under_join_any_one_wins_and_the_other_is_cancelled():
    tenant = factories.service_tenant()
    admin = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    workers = [worker(tenant, f"w{i}", capabilities=[f"w{i}"]) for i in range(2)]
    definition = {"join": "any", "steps": [{"id": f"s{i}", "task": {"title": "t", "capabilities": [f"w{i}"]}}
                                           for i in range(2)]}  # fmt: skip
    execution_id = run(admin, active_workflow(admin, "parallel", definition))["id"]
    tasks = [step_tasks(execution_id, f"s{i}")[0] for i in range(2)]
    for doer, task in zip(workers, tasks, strict=True):
        doer.start(task)

    def complete(index: int) -> int:
        body = {"to_status": "completed", "output_data": index}
        return workers[index].api.post(f"/api/v1/tasks/{tasks[index].pk}/transition", body, format="json").status_code

    assert Counter(run_concurrently(2, complete)) == {200: 1, 409: 1}
    execution = WorkflowExecution.objects.get(pk=execution_id)
    assert execution.status == "completed"
    statuses = sorted(Task.objects.filter(workflow_execution=execution).values_list("status", flat=True))
    assert statuses == ["cancelled", "completed"]
    assert execution.output_data["result"] == int(execution.output_data["winner"][1])


def test_two_failures_at_once_under_fail_fast_do_not_deadlock():
    """Each failure would cancel the other's task; both take the execution first, so they queue instead of
    deadlocking: one fails the execution, the other finds its task cancelled (409)."""
    tenant = factories.service_tenant()
    admin = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    workers = [worker(tenant, f"w{i}", capabilities=[f"w{i}"]) for i in range(2)]
    definition = {"join": "fail_fast", "steps": [{"id": f"s{i}", "task": {"title": "t", "capabilities": [f"w{i}"]}}
                                                 for i in range(2)]}  # fmt: skip
    for _ in range(5):
        execution_id = run(admin, active_workflow(admin, "parallel", definition))["id"]
        tasks = [step_tasks(execution_id, f"s{i}")[0] for i in range(2)]
        for doer, task in zip(workers, tasks, strict=True):
            doer.start(task)

        def fail(index: int, tasks=tasks) -> int:
            body = {"to_status": "failed", "error_message": f"boom {index}"}
            return (
                workers[index].api.post(f"/api/v1/tasks/{tasks[index].pk}/transition", body, format="json").status_code
            )

        assert Counter(run_concurrently(2, fail)) == {200: 1, 409: 1}
        execution = WorkflowExecution.objects.get(pk=execution_id)
        assert execution.status == "failed"
        assert sorted(t.status for t in Task.objects.filter(workflow_execution=execution)) == ["cancelled", "failed"]


def test_map_items_finishing_together_keep_the_concurrency_limit_and_reduce_once():
    tenant = factories.service_tenant()
    admin = factories.client_for(factories.issued_key(tenant, "admin").raw_key)
    mapper = worker(tenant, "mapper", capabilities=["map"])
    reducer = worker(tenant, "reducer", capabilities=["reduce"])
    definition = {
        "map": {"id": "m", "items": "$.input.xs", "concurrency": 3, "task": {"title": "{{ $.item }}",
                                                                             "capabilities": ["map"]}},
        "reduce": {"id": "r", "task": {"title": "r", "capabilities": ["reduce"]}},
    }  # fmt: skip
    execution_id = run(admin, active_workflow(admin, "map_reduce", definition), {"xs": list(range(7))})["id"]
    while mapper.open_tasks():
        batch = mapper.open_tasks()
        assert len(batch) <= 3
        for task in batch:
            mapper.start(task)

        def complete(index: int, batch=batch) -> int:
            body = {"to_status": "completed", "output_data": batch[index].input_data["item"] * 10}
            return mapper.api.post(f"/api/v1/tasks/{batch[index].pk}/transition", body, format="json").status_code

        assert run_concurrently(len(batch), complete) == [200] * len(batch)
    assert len(step_tasks(execution_id, "m")) == 7, "every item once"
    (reduce,) = step_tasks(execution_id, "r")
    assert reduce.input_data == {"outputs": [i * 10 for i in range(7)]}
    assert reduce.assigned_agent == reducer.agent


def test_cancelling_an_execution_while_its_tasks_complete():
    workers, started = setup_join(executions=3)
    admin = factories.client_for(factories.issued_key(workers["a"].agent.tenant, "admin").raw_key)

    def act(index: int) -> tuple[str, int]:
        execution_id = started[index // 3]
        if index % 3 == 2:
            return "cancel", admin.post(
                f"/api/v1/workflow-executions/{execution_id}/cancel", {}, format="json"
            ).status_code
        return "finish", finish(workers, execution_id, "ab"[index % 3])

    results = run_concurrently(9, act)
    assert {status for kind, status in results if kind == "cancel"} == {200}
    for execution_id in started:
        execution = WorkflowExecution.objects.get(pk=execution_id)
        assert execution.status == "cancelled"
        tasks = Task.objects.filter(workflow_execution=execution)
        assert set(tasks.values_list("status", flat=True)) <= {"completed", "cancelled"}
        assert not tasks.filter(workflow_step="c").exclude(status="cancelled").exists()


def test_racing_creations_with_one_name_create_one_workflow():
    tenant = factories.service_tenant()
    raw_key = factories.issued_key(tenant, "admin").raw_key
    body = {
        "name": "same",
        "workflow_type": "sequential",
        "definition": {"steps": [{"id": "a", "task": {"title": "t"}}]},
    }

    def create(_: int) -> int:
        return factories.client_for(raw_key).post("/api/v1/workflows", body, format="json").status_code

    assert Counter(run_concurrently(6, create)) == {201: 1, 409: 5}
