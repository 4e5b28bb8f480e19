"""The workflows API: the published schema, validation on every write (400 naming the place), key types, tenants,
the workflow status machine, executions (start, list, cancel) and their Idempotency-Key."""

from __future__ import annotations

import uuid

import jsonschema
import pytest

from tasks.models import Task
from tests import factories
from tests.workflows.helpers import active_workflow, execution, run, worker
from workflows.models import Workflow, WorkflowExecution, WorkflowExecutionIdempotencyKey

pytestmark = pytest.mark.django_db

T = {"title": "t"}
SEQUENTIAL = {"steps": [{"id": "one", "task": T}, {"id": "two", "task": T}]}


def create(api, workflow_type, definition, name=None):
    body = {"name": name or factories.unique("flow"), "workflow_type": workflow_type, "definition": definition}
    return api.post("/api/v1/workflows", body, format="json")


def details(response) -> dict:
    assert response.status_code == 400, response.json()
    return response.json()["error"]["details"]


# --- the schema -------------------------------------------------------------------------------------------------

EXAMPLES = {
    "sequential": SEQUENTIAL,
    "parallel": {"steps": [{"id": "a", "task": T}, {"id": "b", "task": T}], "join": "any"},
    "conditional": {"steps": [{"id": "a", "task": T}, {"id": "b", "depends_on": ["a"], "when": "true", "task": T}]},
    "loop": {"steps": [{"id": "a", "task": T}], "while": "$.iteration < 3", "max_iterations": 3},
    "map_reduce": {"map": {"id": "m", "items": "$.input.xs", "task": T}, "reduce": {"id": "r", "task": T}},
    "scatter_gather": {"scatter": {"id": "s", "task": T, "capabilities": ["x"], "count": 2}, "gather": {"quorum": 1}},
}


def test_the_schema_is_served_to_every_key_type_and_is_what_writes_are_checked_against(tenant):
    for key_type in ("admin", "service", "gateway", "agent", "user"):
        response = factories.client_for(factories.issued_key(tenant, key_type).raw_key).get("/api/v1/workflows/schema")
        assert response.status_code == 200, key_type
    schema = response.json()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for workflow_type, definition in EXAMPLES.items():
        assert not list(validator.iter_errors({"workflow_type": workflow_type, "definition": definition}))
    wrong = {"workflow_type": "loop", "definition": {"steps": [{"id": "a", "task": T}], "while": "true"}}
    assert [list(e.absolute_path) for e in validator.iter_errors(wrong)] == [["definition"]]


@pytest.mark.parametrize("workflow_type", list(EXAMPLES))
def test_a_valid_definition_of_each_type_is_created_as_a_draft(admin_api, workflow_type):
    response = create(admin_api, workflow_type, EXAMPLES[workflow_type])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["version"], body["allowed_transitions"]) == ("draft", 1, ["active", "archived"])
    assert body["definition"] == EXAMPLES[workflow_type]


# --- validation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workflow_type", "definition", "place", "message"),
    [
        (
            "conditional",
            {
                "steps": [
                    {"id": "a", "task": T},
                    {"id": "b", "task": T, "when": "true"},
                    {"id": "c", "task": T, "depends_on": ["a", "nope"]},
                ]
            },
            "definition.steps[2].depends_on[1]",
            "unknown step 'nope'",
        ),
        (
            "conditional",
            {
                "steps": [
                    {"id": "a", "task": T, "depends_on": ["c"]},
                    {"id": "b", "task": T, "depends_on": ["a"]},
                    {"id": "c", "task": T, "depends_on": ["b"], "when": "true"},
                ]
            },
            "definition.steps[1].depends_on[0]",
            "cycle of depends_on: a -> c -> b -> a",
        ),
        (
            "conditional",
            {"steps": [{"id": "a", "task": T, "depends_on": ["a"], "when": "true"}]},
            "definition.steps[0].depends_on[0]",
            "a step cannot depend on itself",
        ),
        (
            "conditional",
            {"steps": [{"id": "a", "task": T}, {"id": "b", "task": T, "depends_on": ["a"]}]},
            "definition.steps",
            "a conditional workflow needs at least one step with a `when` condition",
        ),
        (
            "conditional",
            {"steps": [{"id": "a", "task": T}, {"id": "b", "task": T, "when": ""}]},
            "definition.steps[1].when",
            "must not be empty",
        ),
        (
            "conditional",
            {"steps": [{"id": "a", "task": T}, {"id": "b", "task": T, "when": "$.steps.a.output.ok"}]},
            "definition.steps[1].when",
            "$.steps.a.output.ok: step 'a' is not finished before this point (depend on it)",
        ),
        (
            "map_reduce",
            {"map": {"id": "m", "items": "", "task": T}, "reduce": {"id": "r", "task": T}},
            "definition.map.items",
            "must be a path starting with '$', such as $.input.documents",
        ),
        (
            "map_reduce",
            {"map": {"id": "m", "task": T}, "reduce": {"id": "r", "task": T}},
            "definition.map.items",
            "is required",
        ),
        (
            "map_reduce",
            {"map": {"id": "m", "items": "$.steps.later.output", "task": T}, "reduce": {"id": "r", "task": T}},
            "definition.map.items",
            "$.steps.later.output: unknown step 'later'",
        ),
        (
            "loop",
            {"steps": [{"id": "a", "task": T}], "while": "$.iteration < 3"},
            "definition.max_iterations",
            "is required",
        ),
        (
            "loop",
            {"steps": [{"id": "a", "task": T}], "while": "true", "max_iterations": 0},
            "definition.max_iterations",
            "0 is less than the minimum of 1",
        ),
        (
            "sequential",
            {
                "steps": [
                    {"id": "a", "task": T},
                    {"id": "b", "task": {"title": "{{ $.steps.c.output }}"}},
                    {"id": "c", "task": T},
                ]
            },
            "definition.steps[1].task.title",
            "$.steps.c.output: step 'c' is not finished before this point (depend on it)",
        ),
        (
            "sequential",
            {"steps": [{"id": "a", "task": T}, {"id": "a", "task": T}]},
            "definition.steps[1].id",
            "duplicate step id 'a' (first used at definition.steps[0].id)",
        ),
        (
            "sequential",
            {"steps": [{"id": "1st", "task": T}]},
            "definition.steps[0].id",
            "letters, digits and '_', not starting with a digit, at most 64 characters",
        ),
        ("sequential", {"steps": []}, "definition.steps", "needs at least 1 item(s)"),
        (
            "sequential",
            {"steps": [{"id": "a", "task": T, "depends_on": []}]},
            "definition.steps[0].depends_on",
            "unknown member",
        ),
        ("sequential", {"steps": [{"id": "a", "task": {}}]}, "definition.steps[0].task.title", "is required"),
        (
            "sequential",
            {"steps": [{"id": "a", "task": {"title": "t", "agent_id": str(uuid.uuid4()), "capabilities": ["x"]}}]},
            "definition.steps[0].task",
            "give either agent_id or capabilities (scatter: agents or capabilities), not both",
        ),
        (
            "sequential",
            {"steps": [{"id": "a", "task": {"title": "t", "agent_id": str(uuid.uuid4())}}]},
            "definition.steps[0].task.agent_id",
            "no such agent in this tenant",
        ),
        (
            "sequential",
            {"steps": [{"id": "a", "task": {"title": "t", "input": {"x": "{{ $.input.a + 1 }}"}}}]},
            "definition.steps[0].task.input.x",
            "unexpected text after the path at position 13",
        ),
        (
            "parallel",
            {"steps": [{"id": "a", "task": T}, {"id": "b", "task": {"title": "{{ $.steps.a.output }}"}}]},
            "definition.steps[1].task.title",
            "$.steps.a.output: step 'a' is not finished before this point (depend on it)",
        ),
        (
            "parallel",
            {"steps": [{"id": "a", "task": T}], "join": "most"},
            "definition.join",
            "'most' is not one of ['all', 'any', 'fail_fast']",
        ),
        (
            "scatter_gather",
            {"scatter": {"id": "s", "task": T, "capabilities": ["x"], "count": 2}, "gather": {"quorum": 3}},
            "definition.gather.quorum",
            "a quorum of 3 needs at least as many tasks (2)",
        ),
        (
            "scatter_gather",
            {"scatter": {"id": "s", "task": T}, "gather": "all"},
            "definition.scatter",
            "name the agents (agents) or how many capable agents (capabilities, count)",
        ),
        (
            "scatter_gather",
            {"scatter": {"id": "s", "task": T, "capabilities": ["x"]}, "gather": "all"},
            "definition.scatter.count",
            "is required with capabilities",
        ),
    ],
)
def test_a_definition_that_cannot_run_is_400_naming_the_place(admin_api, workflow_type, definition, place, message):
    response = create(admin_api, workflow_type, definition)
    assert details(response).get(place) == [message], details(response)
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            "__import__('os').system('rm -rf /')",
            "unknown word '__import__' (paths start with '$', strings are quoted) at position 0",
        ),
        (
            "$.input.x.__class__.__mro__[1].__subclasses__()",
            "expected 'and', 'or', a comparison or the end, found '(' at position 45",
        ),
        ("$.input.n ** 10 ** 10", "unexpected character '*' at position 10"),
        (
            "open('/etc/passwd').read() == ''",
            "unknown word 'open' (paths start with '$', strings are quoted) at position 0",
        ),
        ("1 if $.input.x else 2", "unknown word 'if' (paths start with '$', strings are quoted) at position 2"),
        ("(" * 40 + "true" + ")" * 40, "nested deeper than 32 levels at position 32"),
    ],
)
def test_hostile_conditions_are_400_with_their_position(admin_api, condition, message):
    definition = {"steps": [{"id": "a", "task": T}, {"id": "b", "depends_on": ["a"], "when": condition, "task": T}]}
    assert details(create(admin_api, "conditional", definition)) == {"definition.steps[1].when": [message]}


def test_every_problem_is_reported_at_once(admin_api):
    definition = {"steps": [{"id": "a", "task": {"title": ""}, "extra": 1}, {"id": "b"}], "join": 3}
    assert details(create(admin_api, "parallel", definition)) == {
        "definition.join": ["3 is not one of ['all', 'any', 'fail_fast']"],
        "definition.steps[0].extra": ["unknown member"],
        "definition.steps[0].task.title": ["must not be empty"],
        "definition.steps[1].task": ["is required"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "workflow_type": "waterfall", "definition": SEQUENTIAL}, "workflow_type"),
        ({"name": "x", "workflow_type": "sequential", "definition": [1]}, "definition"),
        ({"name": "x", "workflow_type": "sequential"}, "definition"),
        ({"name": "", "workflow_type": "sequential", "definition": SEQUENTIAL}, "name"),
        ({"name": "x", "workflow_type": "sequential", "definition": SEQUENTIAL, "status": "active"}, "status"),
        ({"name": "x", "workflow_type": "sequential", "definition": SEQUENTIAL, "tenant_id": "t"}, "tenant_id"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(admin_api, body, field):
    assert field in details(admin_api.post("/api/v1/workflows", body, format="json"))


def test_too_large_or_too_deep_definitions_are_refused(admin_api):
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    definition = {"steps": [{"id": "a", "task": {"title": "t", "input": deep}}]}
    assert list(details(create(admin_api, "sequential", definition))) == ["definition"]
    huge = {"steps": [{"id": "a", "task": {"title": "t", "input": {"blob": "x" * 300_000}}}]}
    assert list(details(create(admin_api, "sequential", huge))) == ["definition"]


def test_names_are_unique_per_tenant(tenant, other_tenant, admin_api):
    assert create(admin_api, "sequential", SEQUENTIAL, name="daily").status_code == 201
    again = create(admin_api, "sequential", SEQUENTIAL, name="daily")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "workflow_exists")
    other = factories.client_for(factories.issued_key(other_tenant, "admin").raw_key)
    assert create(other, "sequential", SEQUENTIAL, name="daily").status_code == 201


# --- who may ----------------------------------------------------------------------------------------------------


def test_agent_and_user_keys_read_workflows_and_executions_but_write_nothing(tenant, admin_api):
    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    started = run(admin_api, workflow_id)
    for key_type in ("agent", "user"):
        api = factories.client_for(factories.issued_key(tenant, key_type).raw_key)
        assert api.get("/api/v1/workflows").json()["count"] == 1
        assert api.get(f"/api/v1/workflows/{workflow_id}/executions").status_code == 200
        assert api.get(f"/api/v1/workflow-executions/{started['id']}").status_code == 200
        refused = [
            create(api, "sequential", SEQUENTIAL),
            api.patch(f"/api/v1/workflows/{workflow_id}", {"name": "x"}, format="json"),
            api.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": "paused"}, format="json"),
            api.post(f"/api/v1/workflows/{workflow_id}/executions", {}, format="json"),
            api.post(f"/api/v1/workflow-executions/{started['id']}/cancel", {}, format="json"),
        ]
        assert {response.status_code for response in refused} == {403}, key_type


@pytest.mark.parametrize("key_type", ["service", "gateway"])
def test_service_and_gateway_keys_define_and_run_workflows(tenant, key_type):
    api = factories.client_for(factories.issued_key(tenant, key_type).raw_key)
    started = run(api, active_workflow(api, "sequential", SEQUENTIAL))
    assert started["status"] == "running"


def test_other_tenants_workflows_and_executions_are_404(tenant, other_tenant, admin_api):
    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    started = run(admin_api, workflow_id)
    other = factories.client_for(factories.issued_key(other_tenant, "admin").raw_key)
    responses = [
        other.get(f"/api/v1/workflows/{workflow_id}"),
        other.patch(f"/api/v1/workflows/{workflow_id}", {"name": "mine"}, format="json"),
        other.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": "paused"}, format="json"),
        other.get(f"/api/v1/workflows/{workflow_id}/executions"),
        other.post(f"/api/v1/workflows/{workflow_id}/executions", {}, format="json"),
        other.get(f"/api/v1/workflow-executions/{started['id']}"),
        other.post(f"/api/v1/workflow-executions/{started['id']}/cancel", {}, format="json"),
    ]
    assert {response.status_code for response in responses} == {404}
    assert other.get("/api/v1/workflow-executions").json()["count"] == 0
    assert execution(admin_api, started["id"])["status"] == "running"


def test_the_workflows_feature_can_be_switched_off_per_tenant(tenant, admin_api):
    from tenants.services import tenant_config_update

    tenant_config_update(tenant=tenant, features={"workflows": False})
    response = admin_api.get("/api/v1/workflows")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "feature_disabled")


# --- status machine and edits -----------------------------------------------------------------------------------


def test_the_workflow_status_machine(admin_api):
    workflow_id = create(admin_api, "sequential", SEQUENTIAL).json()["id"]

    def move(to_status):
        return admin_api.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": to_status}, format="json")

    refused = move("paused")
    assert (refused.status_code, refused.json()["error"]["details"]["allowed"]) == (409, ["active", "archived"])
    assert move("active").json()["allowed_transitions"] == ["paused", "completed", "failed", "archived"]
    assert move("paused").json()["allowed_transitions"] == ["active", "archived"]
    assert move("completed").status_code == 409
    assert move("active").status_code == 200
    assert move("completed").json()["allowed_transitions"] == ["archived"]
    assert move("active").status_code == 409
    assert move("archived").json()["allowed_transitions"] == []
    assert move("active").status_code == 409
    assert move("bogus").status_code == 400


def test_only_active_workflows_run(admin_api):
    workflow_id = create(admin_api, "sequential", SEQUENTIAL).json()["id"]
    response = admin_api.post(f"/api/v1/workflows/{workflow_id}/executions", {}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "workflow_not_active")
    assert not WorkflowExecution.objects.exists()


def test_a_new_definition_is_validated_bumps_the_version_and_leaves_running_executions_alone(tenant, admin_api):
    doer = worker(tenant)
    workflow_id = active_workflow(admin_api, "sequential", {"steps": [{"id": "old", "task": {"title": "old"}}]})
    started = run(admin_api, workflow_id)
    url = f"/api/v1/workflows/{workflow_id}"
    bad = admin_api.patch(url, {"definition": {"steps": [{"id": "x"}]}}, format="json")
    assert details(bad) == {"definition.steps[0].task": ["is required"]}
    assert admin_api.patch(url, {"workflow_type": "loop"}, format="json").status_code == 400
    response = admin_api.patch(url, {"definition": {"steps": [{"id": "new", "task": {"title": "new"}}]}}, format="json")
    assert (response.status_code, response.json()["version"]) == (200, 2)
    assert admin_api.patch(url, {"description": "same definition"}, format="json").json()["version"] == 2
    doer.complete(doer.only_task())
    done = execution(admin_api, started["id"])
    assert (done["status"], done["workflow_version"], [s["id"] for s in done["steps"]]) == ("completed", 1, ["old"])
    assert run(admin_api, workflow_id)["steps"][0]["id"] == "new"


def test_retired_workflows_do_not_change(admin_api):
    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    admin_api.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": "archived"}, format="json")
    response = admin_api.patch(f"/api/v1/workflows/{workflow_id}", {"name": "again"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "workflow_retired")


# --- executions -------------------------------------------------------------------------------------------------


def test_executions_are_listed_per_workflow_and_overall_with_filters(tenant, admin_api):
    doer = worker(tenant)
    first = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": T}]})
    second = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": T}]})
    done, running, other = run(admin_api, first), run(admin_api, first), run(admin_api, second)
    doer.complete(Task.objects.get(workflow_execution_id=done["id"]))
    listed = admin_api.get(f"/api/v1/workflows/{first}/executions").json()
    assert [row["id"] for row in listed["results"]] == [running["id"], done["id"]]
    only_done = admin_api.get(f"/api/v1/workflows/{first}/executions?status=completed").json()["results"]
    assert [row["id"] for row in only_done] == [done["id"]]
    assert admin_api.get(f"/api/v1/workflows/{first}/executions?status=sleeping").status_code == 400
    overall = admin_api.get(f"/api/v1/workflow-executions?workflow_id={second}").json()["results"]
    assert [row["id"] for row in overall] == [other["id"]]
    assert admin_api.get("/api/v1/workflow-executions?status=running").json()["count"] == 2
    assert admin_api.get("/api/v1/workflow-executions?workflow_id=nope").status_code == 400
    tasks = admin_api.get(f"/api/v1/tasks?workflow_execution_id={running['id']}&workflow_step=a").json()
    assert [row["workflow_step"] for row in tasks["results"]] == ["a"]


@pytest.mark.parametrize("body", [{"input": [1]}, {"input": "x"}, {"inputs": {}}, {"input": {}, "status": "done"}])
def test_a_bad_execution_body_is_400(admin_api, body):
    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    assert details(admin_api.post(f"/api/v1/workflows/{workflow_id}/executions", body, format="json"))


def test_cancelling_an_execution_cancels_its_open_tasks(tenant, admin_api):
    doers = [worker(tenant, capabilities=["x"]) for _ in range(2)]
    definition = {"steps": [{"id": "a", "task": {"title": "a", "capabilities": ["x"]}},
                            {"id": "b", "task": {"title": "b", "capabilities": ["nobody"]}}]}  # fmt: skip
    started = run(admin_api, active_workflow(admin_api, "parallel", definition))
    doers[0].start(Task.objects.get(workflow_execution_id=started["id"], workflow_step="a"))
    response = admin_api.post(
        f"/api/v1/workflow-executions/{started['id']}/cancel", {"reason": "not needed"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["error_message"]) == ("cancelled", "not needed")
    assert {s["status"] for s in body["steps"]} == {"cancelled"}
    assert set(Task.objects.filter(workflow_execution_id=started["id"]).values_list("status", flat=True)) == {
        "cancelled"
    }, "in progress and still pending (no agent with the capability) alike"
    again = admin_api.post(f"/api/v1/workflow-executions/{started['id']}/cancel", {}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "execution_finished")


# --- idempotent starts ------------------------------------------------------------------------------------------


def start(api, workflow_id, body, key):
    return api.post(f"/api/v1/workflows/{workflow_id}/executions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_and_body_replays_the_first_201(tenant, admin_api):
    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    first = start(admin_api, workflow_id, {"input": {"a": 1}}, "run-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert first["Location"] == f"/api/v1/workflow-executions/{first.json()['id']}"
    again = start(admin_api, workflow_id, {"input": {"a": 1}}, "run-1")
    assert (again.status_code, again["Idempotent-Replayed"], again.content) == (201, "true", first.content)
    assert WorkflowExecution.objects.count() == 1
    assert Task.objects.filter(tenant=tenant).count() == 1
    mismatch = start(admin_api, workflow_id, {"input": {"a": 2}}, "run-1")
    assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (422, "idempotency_mismatch")
    other_workflow = active_workflow(admin_api, "sequential", SEQUENTIAL)
    assert start(admin_api, other_workflow, {"input": {"a": 1}}, "run-1").status_code == 422
    assert start(admin_api, workflow_id, {"input": {"a": 1}}, "x" * 256).status_code == 400
    row = WorkflowExecutionIdempotencyKey.objects.get()
    assert (row.tenant_id, str(row.execution_id)) == (tenant.pk, first.json()["id"])


def test_execution_keys_are_their_own_space_and_scoped_to_the_tenant(tenant, other_tenant, admin_api):
    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    assert admin_api.post("/api/v1/tasks", {"title": "t"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert "Idempotent-Replayed" not in start(admin_api, workflow_id, {}, "k")
    other = factories.client_for(factories.issued_key(other_tenant, "admin").raw_key)
    other_workflow = active_workflow(other, "sequential", SEQUENTIAL)
    assert "Idempotent-Replayed" not in start(other, other_workflow, {}, "k")


def test_a_refused_start_stores_no_key_so_a_corrected_retry_works(admin_api):
    workflow_id = create(admin_api, "sequential", SEQUENTIAL).json()["id"]
    assert start(admin_api, workflow_id, {}, "early").status_code == 409
    admin_api.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": "active"}, format="json")
    response = start(admin_api, workflow_id, {}, "early")
    assert (response.status_code, "Idempotent-Replayed" in response) == (201, False)


def test_lists_cost_the_same_number_of_queries_for_one_row_or_many(tenant, admin_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    workflow_id = active_workflow(admin_api, "sequential", SEQUENTIAL)
    run(admin_api, workflow_id)
    counts = []
    for _ in range(2):
        for url in ("/api/v1/workflows", "/api/v1/workflow-executions", f"/api/v1/workflows/{workflow_id}/executions"):
            with CaptureQueriesContext(connection) as queries:
                assert admin_api.get(url).status_code == 200
            counts.append(len(queries))
        for _ in range(4):
            run(admin_api, active_workflow(admin_api, "sequential", SEQUENTIAL))
            run(admin_api, workflow_id)
    assert counts[:3] == counts[3:]


def test_an_execution_shows_task_data_only_to_callers_that_may_read_those_tasks(tenant, admin_api):
    """Issue 13, finding 9: an agent read, through the execution, the output of tasks it may not read."""
    first, second = worker(tenant, capabilities=["one"]), worker(tenant, capabilities=["two"])
    definition = {"steps": [{"id": "one", "task": {"title": "1", "capabilities": ["one"]}},
                            {"id": "two", "task": {"title": "2", "capabilities": ["two"]}}]}  # fmt: skip
    started = run(admin_api, active_workflow(admin_api, "sequential", definition))
    assert first.complete(first.only_task(), {"secret": "of one"}).status_code == 200
    second_task = second.only_task()
    assert first.api.get(f"/api/v1/tasks/{second_task.pk}").status_code == 404
    assert (
        second.api.get(f"/api/v1/tasks/{first.open_tasks() or Task.objects.get(workflow_step='one').pk}").status_code
        == 404
    )

    seen_by_second = execution(second.api, started["id"])
    one = next(step for step in seen_by_second["steps"] if step["id"] == "one")
    assert (one["status"], one["output"], one["tasks"][0]["task_id"]) == ("completed", None, None)
    assert "of one" not in str(seen_by_second)
    assert seen_by_second["output"] is None
    listed = second.api.get("/api/v1/workflow-executions").json()["results"]
    assert "of one" not in str(listed)
    # The agent that did step one reads it; the tenant's keys read everything.
    seen_by_first = execution(first.api, started["id"])
    assert next(s for s in seen_by_first["steps"] if s["id"] == "one")["output"] == {"secret": "of one"}
    assert "of one" in str(execution(admin_api, started["id"]))
