"""Each of the six workflow types, end to end through the API, to completion and to failure: an admin key defines and
runs the workflow, agents (with their own keys) work the tasks the engine assigns them."""

from __future__ import annotations

import pytest

from tasks.models import Task
from tests.workflows.helpers import active_workflow, execution, run, step_tasks, steps, worker

pytestmark = pytest.mark.django_db


def task(title: str, **fields) -> dict:
    return {"title": title, **fields}


# --- sequential -------------------------------------------------------------------------------------------------

SEQUENTIAL = {
    "steps": [
        {
            "id": "fetch",
            "task": task("Fetch {{ $.input.url }}", capabilities=["fetch"], input={"url": "{{ $.input.url }}"}),
        },
        {
            "id": "summarise",
            "task": task(
                "Summarise {{ $.input.url }}",
                capabilities=["write"],
                input={"text": "{{ $.steps.fetch.output.text }}", "words": "{{ $.input.words }}"},
            ),
        },
    ]
}


def test_sequential_runs_its_steps_one_after_another_with_earlier_outputs(tenant, admin_api):
    fetcher, writer = worker(tenant, capabilities=["fetch"]), worker(tenant, capabilities=["write"])
    started = run(admin_api, active_workflow(admin_api, "sequential", SEQUENTIAL), {"url": "http://a", "words": 50})
    assert started["status"] == "running"
    assert [(s["id"], s["status"]) for s in started["steps"]] == [("fetch", "running"), ("summarise", "waiting")]
    assert writer.open_tasks() == []
    first = fetcher.only_task()
    assert (first.title, first.input_data, first.workflow_step) == ("Fetch http://a", {"url": "http://a"}, "fetch")
    assert str(first.workflow_execution_id) == started["id"]

    assert fetcher.complete(first, {"text": "the page"}).status_code == 200
    second = writer.only_task()
    assert second.title == "Summarise http://a"
    assert second.input_data == {"text": "the page", "words": 50}, "a whole placeholder keeps the JSON type"
    assert steps(admin_api, started["id"]) == {"fetch": "completed", "summarise": "running"}

    writer.complete(second, {"summary": "short"})
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("completed", None)
    outputs = {"fetch": {"text": "the page"}, "summarise": {"summary": "short"}}
    assert done["output"] == {"result": {"summary": "short"}, "steps": outputs}
    assert done["steps"][1]["tasks"][0]["task_id"] == str(second.pk)


def test_sequential_a_failed_step_fails_the_execution_and_nothing_after_it_starts(tenant, admin_api):
    fetcher, writer = worker(tenant, capabilities=["fetch"]), worker(tenant, capabilities=["write"])
    started = run(admin_api, active_workflow(admin_api, "sequential", SEQUENTIAL), {"url": "http://a"})
    assert fetcher.fail(fetcher.only_task(), "404 not found").status_code == 200
    done = execution(admin_api, started["id"])
    assert done["status"] == "failed"
    assert done["error_message"] == "step fetch failed: 404 not found"
    assert steps(admin_api, started["id"]) == {"fetch": "failed", "summarise": "cancelled"}
    assert step_tasks(started["id"], "summarise") == []
    assert writer.open_tasks() == []


def test_sequential_continue_on_error_lets_the_next_step_run(tenant, admin_api):
    fetcher, writer = worker(tenant, capabilities=["fetch"]), worker(tenant, capabilities=["write"])
    definition = {"steps": [{**SEQUENTIAL["steps"][0], "continue_on_error": True}, SEQUENTIAL["steps"][1]]}
    started = run(admin_api, active_workflow(admin_api, "sequential", definition), {"url": "http://a"})
    fetcher.fail(fetcher.only_task())
    second = writer.only_task()
    assert second.input_data["text"] is None, "the failed step's output is null"
    writer.complete(second, {"summary": "without the page"})
    done = execution(admin_api, started["id"])
    assert done["status"] == "completed"
    assert steps(admin_api, started["id"]) == {"fetch": "failed", "summarise": "completed"}


def test_a_failed_task_with_retries_left_is_retried_automatically(tenant, admin_api):
    fetcher = worker(tenant, capabilities=["fetch"])
    definition = {"steps": [{**SEQUENTIAL["steps"][0], "task": {**SEQUENTIAL["steps"][0]["task"], "max_retries": 1}},
                            SEQUENTIAL["steps"][1]]}  # fmt: skip
    started = run(admin_api, active_workflow(admin_api, "sequential", definition), {"url": "http://a"})
    first = fetcher.only_task()
    fetcher.fail(first, "flaky")
    first.refresh_from_db()
    assert (first.status, first.retry_count, first.assigned_agent_id) == ("assigned", 1, fetcher.agent.pk)
    assert steps(admin_api, started["id"])["fetch"] == "running"
    fetcher.fail(first, "still flaky")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step fetch failed: still flaky")


# --- parallel ---------------------------------------------------------------------------------------------------


def parallel(join: str) -> dict:
    return {
        "join": join,
        "steps": [{"id": name, "task": task(f"{name} {{{{ $.input.q }}}}", capabilities=[name])} for name in "abc"],
    }


def parallel_workers(tenant):
    return {name: worker(tenant, capabilities=[name]) for name in "abc"}


def test_parallel_join_all_starts_every_step_at_once_and_waits_for_all(tenant, admin_api):
    workers = parallel_workers(tenant)
    started = run(admin_api, active_workflow(admin_api, "parallel", parallel("all")), {"q": "x"})
    assert {s["status"] for s in started["steps"]} == {"running"}
    for name in "ab":
        workers[name].complete(workers[name].only_task(), {"from": name})
    assert execution(admin_api, started["id"])["status"] == "running"
    workers["c"].complete(workers["c"].only_task(), {"from": "c"})
    done = execution(admin_api, started["id"])
    assert done["status"] == "completed"
    assert done["output"]["result"] == {"a": {"from": "a"}, "b": {"from": "b"}, "c": {"from": "c"}}


def test_parallel_join_all_fails_after_every_step_finished_when_one_failed(tenant, admin_api):
    workers = parallel_workers(tenant)
    started = run(admin_api, active_workflow(admin_api, "parallel", parallel("all")), {"q": "x"})
    workers["a"].fail(workers["a"].only_task(), "no")
    assert execution(admin_api, started["id"])["status"] == "running", "join all waits for the others"
    workers["b"].complete(workers["b"].only_task())
    workers["c"].complete(workers["c"].only_task())
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step a failed: no")


def test_parallel_join_any_completes_with_the_first_success_and_cancels_the_rest(tenant, admin_api):
    workers = parallel_workers(tenant)
    started = run(admin_api, active_workflow(admin_api, "parallel", parallel("any")), {"q": "x"})
    workers["a"].fail(workers["a"].only_task())
    assert execution(admin_api, started["id"])["status"] == "running", "a failure does not end an `any` join"
    in_flight = workers["c"].only_task()
    workers["c"].start(in_flight)
    workers["b"].complete(workers["b"].only_task(), {"winner": True})
    done = execution(admin_api, started["id"])
    assert (done["status"], done["output"]["result"], done["output"]["winner"]) == ("completed", {"winner": True}, "b")
    in_flight.refresh_from_db()
    assert in_flight.status == "cancelled"
    assert steps(admin_api, started["id"]) == {"a": "failed", "b": "completed", "c": "cancelled"}
    late = workers["c"].api.post(f"/api/v1/tasks/{in_flight.pk}/transition", {"to_status": "completed"}, format="json")
    assert late.status_code == 409


def test_parallel_join_any_fails_when_every_step_failed(tenant, admin_api):
    workers = parallel_workers(tenant)
    started = run(admin_api, active_workflow(admin_api, "parallel", parallel("any")), {"q": "x"})
    for name in "abc":
        workers[name].fail(workers[name].only_task(), f"{name} broke")
    done = execution(admin_api, started["id"])
    assert done["status"] == "failed"
    assert done["error_message"].startswith("every step failed: step a failed: a broke")


def test_parallel_fail_fast_fails_at_the_first_failure_and_cancels_the_rest(tenant, admin_api):
    workers = parallel_workers(tenant)
    started = run(admin_api, active_workflow(admin_api, "parallel", parallel("fail_fast")), {"q": "x"})
    workers["a"].complete(workers["a"].only_task())
    workers["b"].fail(workers["b"].only_task(), "bad")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step b failed: bad")
    assert step_tasks(started["id"], "c")[0].status == "cancelled"


def test_parallel_fail_fast_completes_when_all_succeed(tenant, admin_api):
    workers = parallel_workers(tenant)
    started = run(admin_api, active_workflow(admin_api, "parallel", parallel("fail_fast")), {"q": "x"})
    for name in "abc":
        workers[name].complete(workers[name].only_task(), name)
    assert execution(admin_api, started["id"])["output"]["result"] == {"a": "a", "b": "b", "c": "c"}


# --- conditional ------------------------------------------------------------------------------------------------

CONDITIONAL = {
    "steps": [
        {"id": "classify", "task": task("Classify", capabilities=["triage"], input={"ticket": "{{ $.input.ticket }}"})},
        {
            "id": "urgent",
            "depends_on": ["classify"],
            "when": "$.steps.classify.output.severity >= 3 or $.input.vip == true",
            "task": task("Page someone", capabilities=["oncall"]),
        },
        {
            "id": "routine",
            "depends_on": ["classify"],
            "when": "not ($.steps.classify.output.severity >= 3 or $.input.vip == true)",
            "task": task("Queue it", capabilities=["triage"]),
        },
        {
            "id": "report",
            "depends_on": ["urgent", "routine"],
            "task": task(
                "Report",
                capabilities=["triage"],
                input={"urgent": "{{ $.steps.urgent.output }}", "routine": "{{ $.steps.routine.output }}"},
            ),
        },
    ]
}


@pytest.mark.parametrize(
    ("severity", "vip", "taken", "skipped"),
    [(5, False, "urgent", "routine"), (1, False, "routine", "urgent"), (1, True, "urgent", "routine")],
)
def test_conditional_takes_the_branch_its_conditions_choose(tenant, admin_api, severity, vip, taken, skipped):
    triage, oncall = worker(tenant, capabilities=["triage"]), worker(tenant, capabilities=["oncall"])
    started = run(admin_api, active_workflow(admin_api, "conditional", CONDITIONAL), {"ticket": 7, "vip": vip})
    triage.complete(triage.only_task(), {"severity": severity})
    assert steps(admin_api, started["id"])[skipped] == "skipped"
    assert step_tasks(started["id"], skipped) == []
    branch = (oncall if taken == "urgent" else triage).only_task()
    assert branch.workflow_step == taken
    (oncall if taken == "urgent" else triage).complete(branch, {"handled": taken})
    report = triage.only_task()
    assert report.input_data == {taken: {"handled": taken}, skipped: None}
    triage.complete(report, {"ok": True})
    done = execution(admin_api, started["id"])
    assert done["status"] == "completed"
    assert done["output"]["result"]["report"] == {"ok": True}
    assert steps(admin_api, started["id"]) == {"classify": "completed", taken: "completed", skipped: "skipped",
                                               "report": "completed"}  # fmt: skip


def test_conditional_a_failed_branch_fails_the_execution(tenant, admin_api):
    triage, oncall = worker(tenant, capabilities=["triage"]), worker(tenant, capabilities=["oncall"])
    started = run(admin_api, active_workflow(admin_api, "conditional", CONDITIONAL), {"ticket": 7})
    triage.complete(triage.only_task(), {"severity": 4})
    oncall.fail(oncall.only_task(), "nobody answered")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step urgent failed: nobody answered")
    assert steps(admin_api, started["id"])["report"] == "cancelled"
    assert step_tasks(started["id"], "report") == []


# --- loop -------------------------------------------------------------------------------------------------------


def loop(max_iterations: int = 5, **extra) -> dict:
    return {
        "steps": [
            {
                "id": "draft",
                "task": task(
                    "Draft, round {{ $.iteration }}",
                    capabilities=["write"],
                    input={"previous": "{{ $.steps.review.output }}"},
                ),
            },
            {
                "id": "review",
                "task": task("Review", capabilities=["review"], input={"text": "{{ $.steps.draft.output.text }}"}),
            },
        ],
        "while": "$.iteration == 0 or $.steps.review.output.score < 0.8",
        "max_iterations": max_iterations,
        **extra,
    }


def one_round(writer, reviewer, text: str, score: float) -> None:
    writer.complete(writer.only_task(), {"text": text})
    reviewer.complete(reviewer.only_task(), {"score": score})


def test_loop_repeats_its_body_while_the_condition_holds(tenant, admin_api):
    writer, reviewer = worker(tenant, capabilities=["write"]), worker(tenant, capabilities=["review"])
    started = run(admin_api, active_workflow(admin_api, "loop", loop()))
    assert started["iteration"] == 1
    first = writer.only_task()
    assert (first.title, first.input_data) == ("Draft, round 1", {"previous": None})
    one_round(writer, reviewer, "v1", 0.5)
    assert execution(admin_api, started["id"])["iteration"] == 2
    second = writer.only_task()
    assert (second.title, second.input_data) == ("Draft, round 2", {"previous": {"score": 0.5}})
    one_round(writer, reviewer, "v2", 0.9)
    done = execution(admin_api, started["id"])
    assert (done["status"], done["iteration"]) == ("completed", 2)
    assert done["output"]["iterations"] == 2
    assert done["output"]["result"] == {"draft": {"text": "v2"}, "review": {"score": 0.9}}
    assert len(step_tasks(started["id"], "draft")) == 2


def test_loop_fails_when_the_condition_still_holds_after_max_iterations(tenant, admin_api):
    writer, reviewer = worker(tenant, capabilities=["write"]), worker(tenant, capabilities=["review"])
    started = run(admin_api, active_workflow(admin_api, "loop", loop(max_iterations=2)))
    one_round(writer, reviewer, "v1", 0.1)
    one_round(writer, reviewer, "v2", 0.2)
    done = execution(admin_api, started["id"])
    assert done["status"] == "failed"
    assert done["error_message"] == "the loop condition still holds after max_iterations (2)"
    assert writer.open_tasks() == []


def test_loop_may_complete_at_max_iterations_when_told_to(tenant, admin_api):
    writer, reviewer = worker(tenant, capabilities=["write"]), worker(tenant, capabilities=["review"])
    started = run(admin_api, active_workflow(admin_api, "loop", loop(max_iterations=1, on_max_iterations="complete")))
    one_round(writer, reviewer, "v1", 0.1)
    done = execution(admin_api, started["id"])
    assert (done["status"], done["output"]["iterations"]) == ("completed", 1)
    assert "max_iterations" in done["output"]["stopped"]


def test_loop_a_failed_body_step_fails_the_execution(tenant, admin_api):
    writer, reviewer = worker(tenant, capabilities=["write"]), worker(tenant, capabilities=["review"])
    started = run(admin_api, active_workflow(admin_api, "loop", loop()))
    one_round(writer, reviewer, "v1", 0.1)
    writer.fail(writer.only_task(), "writer's block")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step draft failed: writer's block")
    assert done["iteration"] == 2


def test_a_loop_whose_condition_is_false_at_once_completes_without_tasks(tenant, admin_api):
    workflow = active_workflow(admin_api, "loop", {**loop(), "while": "$.input.go"})
    started = run(admin_api, workflow, {"go": False})
    assert (started["status"], started["output"]["iterations"]) == ("completed", 0)
    assert not Task.objects.filter(workflow_execution_id=started["id"]).exists()


# --- map_reduce -------------------------------------------------------------------------------------------------


def map_reduce(concurrency: int = 2, **map_fields) -> dict:
    return {
        "map": {
            "id": "summarise",
            "items": "$.input.documents",
            "concurrency": concurrency,
            "task": task("Summarise {{ $.item.name }}", capabilities=["summarise"]),
            **map_fields,
        },
        "reduce": {"id": "combine", "task": task("Combine", capabilities=["combine"])},
    }


def test_map_reduce_fans_out_with_a_concurrency_limit_and_reduces_in_item_order(tenant, admin_api):
    mapper, reducer = worker(tenant, capabilities=["summarise"]), worker(tenant, capabilities=["combine"])
    documents = [{"name": name} for name in ("d0", "d1", "d2", "d3")]
    started = run(admin_api, active_workflow(admin_api, "map_reduce", map_reduce()), {"documents": documents})
    first_two = mapper.open_tasks()
    assert [t.title for t in first_two] == ["Summarise d0", "Summarise d1"], "at most `concurrency` at once"
    assert first_two[0].input_data == {"item": {"name": "d0"}, "index": 0}
    mapper.complete(first_two[1], "summary of d1")  # completed out of item order on purpose: d1, d2, d3, d0
    assert [t.title for t in mapper.open_tasks()] == ["Summarise d0", "Summarise d2"]
    mapper.complete(mapper.open_tasks()[1], "summary of d2")
    assert [t.title for t in mapper.open_tasks()] == ["Summarise d0", "Summarise d3"]
    mapper.complete(mapper.open_tasks()[1], "summary of d3")
    assert reducer.open_tasks() == [], "the reduce waits for every item"
    mapper.complete(mapper.only_task(), "summary of d0")
    reduce = reducer.only_task()
    assert reduce.input_data == {"outputs": [f"summary of d{i}" for i in range(4)]}, "outputs in item order"
    progress = execution(admin_api, started["id"])["steps"][0]
    assert [(t["item"], t["status"]) for t in progress["tasks"]] == [(i, "completed") for i in range(4)]
    reducer.complete(reduce, {"digest": "all four"})
    done = execution(admin_api, started["id"])
    assert (done["status"], done["output"]["result"]) == ("completed", {"digest": "all four"})


def test_map_reduce_over_an_earlier_steps_output(tenant, admin_api):
    mapper, reducer = worker(tenant, capabilities=["summarise"]), worker(tenant, capabilities=["combine"])
    definition = {
        "steps": [{"id": "search", "task": task("Search", capabilities=["combine"])}],
        **map_reduce(concurrency=5, items="$.steps.search.output.hits"),
    }
    started = run(admin_api, active_workflow(admin_api, "map_reduce", definition))
    reducer.complete(reducer.only_task(), {"hits": [{"name": "x"}, {"name": "y"}]})
    assert [t.title for t in mapper.open_tasks()] == ["Summarise x", "Summarise y"]
    for item_task in mapper.open_tasks():
        mapper.complete(item_task, item_task.title)
    reducer.complete(reducer.only_task(), "done")
    assert execution(admin_api, started["id"])["status"] == "completed"


def test_map_reduce_a_failed_item_fails_the_execution_and_cancels_the_other_items(tenant, admin_api):
    mapper, reducer = worker(tenant, capabilities=["summarise"]), worker(tenant, capabilities=["combine"])
    documents = [{"name": f"d{i}"} for i in range(3)]
    started = run(admin_api, active_workflow(admin_api, "map_reduce", map_reduce()), {"documents": documents})
    first, second = mapper.open_tasks()
    mapper.fail(first, "unreadable")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == ("failed", "step summarise failed: item 0: unreadable")
    second.refresh_from_db()
    assert second.status == "cancelled"
    assert len(step_tasks(started["id"], "summarise")) == 2, "the third item never started"
    assert reducer.open_tasks() == []


def test_map_reduce_with_continue_on_error_reduces_null_for_a_failed_item(tenant, admin_api):
    mapper, reducer = worker(tenant, capabilities=["summarise"]), worker(tenant, capabilities=["combine"])
    workflow = active_workflow(admin_api, "map_reduce", map_reduce(continue_on_error=True))
    run(admin_api, workflow, {"documents": [{"name": "a"}, {"name": "b"}]})
    first, second = mapper.open_tasks()
    mapper.fail(first)
    mapper.complete(second, "b!")
    assert reducer.only_task().input_data == {"outputs": [None, "b!"]}


def test_map_reduce_whose_list_turns_out_empty_fails(tenant, admin_api):
    reducer = worker(tenant, capabilities=["combine"])
    definition = {
        "steps": [{"id": "search", "task": task("Search", capabilities=["combine"])}],
        **map_reduce(items="$.steps.search.output.hits"),
    }
    started = run(admin_api, active_workflow(admin_api, "map_reduce", definition))
    reducer.complete(reducer.only_task(), {"hits": []})
    done = execution(admin_api, started["id"])
    assert done["status"] == "failed"
    assert done["error_message"] == (
        "step summarise failed: $.steps.search.output.hits is not a non-empty list of at most 10000 items"
    )


@pytest.mark.parametrize("documents", [[], None, "not a list", {"a": 1}, list(range(10_001))])
def test_map_reduce_over_an_empty_or_missing_input_list_is_refused_at_start(tenant, admin_api, documents):
    workflow = active_workflow(admin_api, "map_reduce", map_reduce())
    body = {"input": {} if documents is None else {"documents": documents}}
    response = admin_api.post(f"/api/v1/workflows/{workflow}/executions", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["input"]
    assert not Task.objects.filter(tenant=tenant).exists()


# --- scatter_gather ---------------------------------------------------------------------------------------------


def test_scatter_gather_by_agent_list_with_a_quorum_cancels_the_rest(tenant, admin_api):
    voters = [worker(tenant, f"voter-{i}") for i in range(3)]
    definition = {
        "scatter": {"id": "vote", "task": task("Vote on {{ $.input.topic }}"), "agents": [v.id for v in voters]},
        "gather": {"quorum": 2},
    }
    started = run(admin_api, active_workflow(admin_api, "scatter_gather", definition), {"topic": "lunch"})
    ballots = [voter.only_task() for voter in voters]
    assert {b.title for b in ballots} == {"Vote on lunch"}
    assert ballots[0].input_data == {"topic": "lunch"}, "a scatter's default input is the execution's input"
    voters[2].complete(ballots[2], "pizza")
    voters[0].complete(ballots[0], "sushi")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["output"]["result"]) == ("completed", ["sushi", "pizza"])
    ballots[1].refresh_from_db()
    assert ballots[1].status == "cancelled"
    assert [t["status"] for t in done["steps"][0]["tasks"]] == ["completed", "cancelled", "completed"]


def test_scatter_gather_by_capability_goes_to_distinct_agents_and_first_wins(tenant, admin_api):
    experts = [worker(tenant, f"expert-{i}", capabilities=["law"]) for i in range(3)]
    worker(tenant, "layman")
    definition = {
        "scatter": {"id": "opinion", "task": task("Opinion"), "capabilities": ["law"], "count": 2},
        "gather": "first",
    }
    started = run(admin_api, active_workflow(admin_api, "scatter_gather", definition))
    tasks = step_tasks(started["id"], "opinion")
    assert [t.assigned_agent.name for t in tasks] == ["expert-0", "expert-1"], "distinct, least loaded, by name"
    experts[1].complete(tasks[1], "yes")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["output"]["result"]) == ("completed", "yes")
    tasks[0].refresh_from_db()
    assert tasks[0].status == "cancelled"


def test_scatter_gather_all_fails_when_one_fails_and_cancels_the_rest(tenant, admin_api):
    voters = [worker(tenant, f"voter-{i}") for i in range(3)]
    definition = {"scatter": {"id": "vote", "task": task("Vote"), "agents": [v.id for v in voters]}, "gather": "all"}
    started = run(admin_api, active_workflow(admin_api, "scatter_gather", definition))
    voters[0].complete(voters[0].only_task(), "a")
    voters[1].fail(voters[1].only_task(), "abstain")
    done = execution(admin_api, started["id"])
    assert (done["status"], done["error_message"]) == (
        "failed",
        "step vote failed: 1 of 3 succeeded, 1 failed; 3 needed",
    )
    assert voters[2].open_tasks() == []


def test_scatter_gather_all_completes_with_every_output_in_agent_order(tenant, admin_api):
    voters = [worker(tenant, f"voter-{i}") for i in range(2)]
    definition = {"scatter": {"id": "vote", "task": task("Vote"), "agents": [v.id for v in voters]}, "gather": "all"}
    started = run(admin_api, active_workflow(admin_api, "scatter_gather", definition))
    voters[1].complete(voters[1].only_task(), "second")
    voters[0].complete(voters[0].only_task(), "first")
    assert execution(admin_api, started["id"])["output"]["result"] == ["first", "second"]


def test_scatter_gather_quorum_fails_once_it_cannot_be_reached(tenant, admin_api):
    voters = [worker(tenant, f"voter-{i}") for i in range(3)]
    definition = {"scatter": {"id": "vote", "task": task("Vote"), "agents": [v.id for v in voters]},
                  "gather": {"quorum": 2}}  # fmt: skip
    started = run(admin_api, active_workflow(admin_api, "scatter_gather", definition))
    voters[0].fail(voters[0].only_task())
    assert execution(admin_api, started["id"])["status"] == "running"
    voters[1].fail(voters[1].only_task())
    done = execution(admin_api, started["id"])
    assert done["status"] == "failed"
    assert voters[2].open_tasks() == []
