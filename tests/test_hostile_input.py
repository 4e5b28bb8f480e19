"""Hostile input never breaks the server: every body-taking operation, generated from the OpenAPI schema.

For every operation of `/api/schema/` that takes a JSON body, with an admin key and a real object in the
path, the same family of payloads: NUL in strings and keys, lone surrogates, 1e999/NaN, nesting 10,000 deep,
a body over the limit, and the wrong JSON type for each top-level property. Each must be a 4xx with the API's
one error shape, naming the property when the error is a field's. New endpoints are covered as they appear
(a new kind of object in a path fails `path_value` until it is given one). Then one test per finding of
issue 14.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from functools import cache
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from agents.models import Agent
from agents.services import agent_create
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError
from tasks.models import Task
from tenants.services import tenant_config_update
from tests import factories
from tests.api_cases import error_of

pytestmark = pytest.mark.django_db

SEQUENTIAL = {"steps": [{"id": "one", "task": {"title": "t"}}]}
#: Limits small enough to send "too large" bodies quickly (the real defaults get a focused test below).
SMALL_LIMITS = {"MCPADMIN_REQUEST_MAX_BYTES": 4096, "MCPADMIN_INGEST_MAX_BYTES": 8192}
WRONG_TYPE = {
    "string": 12345,
    "integer": "5",
    "number": "1.5",
    "boolean": "true",
    "object": ["not", "an", "object"],
    "array": {"not": "an array"},
}
DEEP = "[" * 10_000 + "]" * 10_000


@cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema: through $ref, a single allOf, or the non-null member of a oneOf."""
    while True:
        if "$ref" in node:
            node = schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        elif "oneOf" in node:
            node = node["oneOf"][0]  # nullable enums: the enum, then BlankEnum/NullEnum
        else:
            return node


def body_operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in schema()["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                properties = resolve(content["application/json"]["schema"]).get("properties", {})
                found.append((method, path, {name: resolve(prop) for name, prop in properties.items()}))
    return found


def list_operations() -> list[str]:
    return [
        path
        for path, operations in schema()["paths"].items()
        if any(parameter.get("name") == "limit" for parameter in operations.get("get", {}).get("parameters", []))
    ]


@pytest.fixture
def world(tenant, admin_key, admin_api):
    """One real object of each kind a path names, in the admin key's tenant (rate limits out of the way)."""
    tenant_config_update(
        tenant=tenant,
        rate_limit_config={f"default_requests_per_{w}": 10_000_000 for w in ("minute", "hour", "day")},
    )
    agent = factories.agent(tenant)
    workspace = factories.workspace(tenant, owner=agent)
    task = admin_api.post("/api/v1/tasks", {"title": "target"}, format="json").json()
    workflow = admin_api.post(
        "/api/v1/workflows",
        {"name": factories.unique("flow"), "workflow_type": "sequential", "definition": SEQUENTIAL},
        format="json",
    ).json()
    admin_api.post(f"/api/v1/workflows/{workflow['id']}/transition", {"to_status": "active"}, format="json")
    execution = admin_api.post(f"/api/v1/workflows/{workflow['id']}/executions", {}, format="json").json()
    ingest = {"documents": [{"content": "a hostile world", "model": "m", "external_id": "d1"}]}
    document = admin_api.post("/api/v1/collections/hostile/documents", ingest, format="json").json()
    by_resource = {
        "agents": agent.id,
        "api-keys": admin_key.key.id,
        "tasks": task["id"],
        "workflows": workflow["id"],
        "workflow-executions": execution["id"],
        "workspaces": workspace.id,
    }
    by_name = {
        "collection": "hostile",
        "document_id": document["documents"][0]["id"],
        "agent_id": agent.id,
        "provider": "github",
        "workspace_id": workspace.id,
    }
    return {"api": admin_api, "by_resource": by_resource, "by_name": by_name}


def url_of(world: dict[str, Any], path: str) -> str:
    resource = path.split("/")[3]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "id":
            assert resource in world["by_resource"], f"give the hostile-input world a {resource} for {path}"
            return str(world["by_resource"][resource])
        assert name in world["by_name"], f"give the hostile-input world a value of {{{name}}} for {path}"
        return str(world["by_name"][name])

    return re.sub(r"\{(\w+)\}", value, path)


def payloads(properties: dict[str, dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(label, raw JSON body, the property a 400 must name or None)."""
    family: list[tuple[str, str, str | None]] = [
        ("deep array body", DEEP, None),
        ("NaN body", "NaN", None),
        ("NUL key", json.dumps({"a\u0000b": 1}), None),
    ]
    for name, prop in properties.items():
        kind = prop.get("type")
        key = json.dumps(name)
        if kind == "string" or (kind == "array" and resolve(prop.get("items", {})).get("type") == "string"):
            value = '"a\\u0000b"' if kind == "string" else '["a\\u0000b"]'
            family += [
                (f"{name}: NUL", f"{{{key}: {value}}}", name),
                (f"{name}: lone surrogate", f"{{{key}: {value.replace('u0000', 'udfff')}}}", name),
            ]
        if kind in (None, "object"):
            family += [
                (f"{name}: NUL value", f'{{{key}: {{"k": "a\\u0000b"}}}}', name),
                (f"{name}: NUL key", f'{{{key}: {{"a\\u0000b": 1}}}}', name),
                (f"{name}: lone surrogate", f'{{{key}: {{"k": "\\udfff"}}}}', name),
                (f"{name}: 1e999", f'{{{key}: {{"k": 1e999}}}}', name),
                (f"{name}: NaN", f'{{{key}: {{"k": NaN}}}}', name),
                (f"{name}: 35 deep", f'{{{key}: {{"k": {"[" * 34 + "]" * 34}}}}}', name),
                (f"{name}: 10000 deep", f"{{{key}: {DEEP}}}", None),
            ]
        if kind in ("integer", "number"):
            family += [(f"{name}: 1e999", f"{{{key}: 1e999}}", name), (f"{name}: NaN", f"{{{key}: NaN}}", name)]
        if kind in WRONG_TYPE:
            family.append((f"{name}: wrong type", json.dumps({name: WRONG_TYPE[kind]}), name))
    return family


def refused(response: Any, field: str | None) -> str | None:
    """Why the response is not a proper refusal (None: it is one)."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    if response["Content-Type"] != "application/json":
        return f"content type {response['Content-Type']}"
    error = error_of(response)
    if field is not None and response.status_code == 400 and field not in error["details"]:
        return f"{field} not named in {error['details']}"
    return None


@pytest.mark.parametrize(
    ("method", "path", "properties"), body_operations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_body_taking_operation_refuses_the_hostile_family(world, method, path, properties):
    api, url = world["api"], url_of(world, path)
    failures = []
    for label, body, field in payloads(properties):
        response = getattr(api, method)(url, body, content_type="application/json")
        if problem := refused(response, field):
            failures.append(f"{label}: {problem}")
    with override_settings(**SMALL_LIMITS):
        response = getattr(api, method)(url, " " * 9000 + "{}", content_type="application/json")
    if response.status_code != 413 or error_of(response)["code"] != "payload_too_large":
        failures.append(f"oversize body: {response.status_code} {response.content[:200]!r}")
    assert not failures, f"{method.upper()} {path}:\n" + "\n".join(failures)


@pytest.mark.parametrize("path", list_operations())
def test_every_list_refuses_a_bad_page_parameter(world, path):
    for query, parameter in (
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=1.5", "limit"),
        ("offset=abc", "offset"),
    ):
        response = world["api"].get(f"{url_of(world, path)}?{query}")
        assert response.status_code == 400, (query, response.content)
        assert parameter in error_of(response)["details"], query
    assert world["api"].get(f"{url_of(world, path)}?limit=100000&offset=0").status_code == 200


# --- focused: one test per finding of issue 14 ----------------------------------------------------------------------


def post(api: Any, url: str, body: str, method: str = "post") -> Any:
    return getattr(api, method)(url, body, content_type="application/json")


def field_error(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    return error_of(response)["details"]


def test_nul_in_free_form_json_is_a_400_naming_the_field(world):
    api = world["api"]
    task = world["by_resource"]["tasks"]
    cases = [
        ("/api/v1/tasks", {"title": "t", "input_data": {"x": "a\u0000"}}, "post", "input_data"),
        ("/api/v1/tasks", {"title": "t", "metadata": {"a\u0000": 1}}, "post", "metadata"),
        ("/api/v1/agents", {"name": "n", "metadata": {"x": ["\u0000"]}}, "post", "metadata"),
        ("/api/v1/api-keys", {"name": "n", "key_type": "user", "metadata": {"x": "\u0000"}}, "post", "metadata"),
        ("/api/v1/workspaces", {"name": "w", "settings": {"x": "\u0000"}}, "post", "settings"),
        ("/api/v1/tenant-config", {"features": {"search": "\u0000"}}, "patch", "features"),
        (
            f"/api/v1/tasks/{task}/transition",
            {"to_status": "cancelled", "output_data": "\u0000"},
            "post",
            "output_data",
        ),
    ]
    for url, body, method, field in cases:
        assert field in field_error(post(api, url, json.dumps(body), method)), (url, field)
    definition = {"steps": [{"id": "one", "task": {"title": "a\u0000"}}]}
    body = {"name": "flow", "workflow_type": "sequential", "definition": definition}
    assert "definition" in field_error(post(api, "/api/v1/workflows", json.dumps(body)))


def test_nul_in_document_metadata_search_filters_and_delete_query(world):
    api = world["api"]
    ingest = {"documents": [{"content": "x", "model": "m", "metadata": {"k": "a\u0000"}}]}
    details = field_error(post(api, "/api/v1/collections/hostile/documents", json.dumps(ingest)))
    assert "metadata" in details["documents"]["0"]
    search = {"collection": "hostile", "query": "world", "filters": {"metadata": {"k": "\u0000"}}}
    assert "metadata" in field_error(post(api, "/api/v1/search", json.dumps(search)))["filters"]
    response = api.delete("/api/v1/collections/hostile/documents?metadata=%7B%22k%22%3A%22%5Cu0000%22%7D")
    assert "metadata" in field_error(response)


def test_lone_surrogate_and_infinity_in_task_input_are_400s(world):
    for raw in ('"\\udfff"', "1e999", "-1e999", "NaN", "Infinity"):
        response = post(world["api"], "/api/v1/tasks", '{"title": "t", "input_data": {"x": ' + raw + "}}")
        assert "input_data" in field_error(response), raw


def test_nul_in_a_path_segment_is_a_json_404(world):
    api = world["api"]
    assert error_of(api.get("/api/v1/collections/a%00b"))[0] == 404
    ingest = {"documents": [{"content": "x", "model": "m"}]}
    assert error_of(api.post("/api/v1/collections/a%00b/documents", ingest, format="json"))[0] == 404


def test_nul_in_a_query_parameter_is_a_400_naming_it(world):
    assert "status" in field_error(world["api"].get("/api/v1/tasks?status=a%00b"))


def test_an_integer_beyond_its_column_is_a_400_naming_the_field(world):
    ingest = {"documents": [{"content": "x", "model": "m", "generation_time_ms": 2_147_483_648}]}
    details = field_error(world["api"].post("/api/v1/collections/hostile/documents", ingest, format="json"))
    assert "generation_time_ms" in details["documents"]["0"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/tasks"),
        ("post", "/api/v1/search"),
        ("post", "/api/v1/collections/hostile/documents"),
        ("patch", "/api/v1/tenant-config"),
        ("patch", "/api/v1/tasks/{task}"),
    ],
)
def test_deep_nesting_is_a_400_not_a_recursion_error(world, method, url):
    response = post(world["api"], url.format(task=world["by_resource"]["tasks"]), DEEP, method)
    assert error_of(response)[0] == 400


def test_free_form_json_has_a_depth_and_a_size_limit(world):
    api = world["api"]
    nested = '{"name": "n", "metadata": ' + '{"a": ' * 950 + "1" + "}" * 950 + "}"
    assert error_of(post(api, "/api/v1/agents", nested))[0] == 400  # a parse error, or metadata named
    just_too_deep = '{"name": "n", "metadata": ' + '{"a": ' * 33 + "1" + "}" * 33 + "}"
    assert "metadata" in field_error(post(api, "/api/v1/agents", just_too_deep))
    deep_enough = '{"name": "n", "metadata": ' + '{"a": ' * 32 + "1" + "}" * 32 + "}"
    assert post(api, "/api/v1/agents", deep_enough).status_code == 201
    big = {"name": "n", "metadata": {"blob": "x" * (64 * 1024)}}
    assert "metadata" in field_error(api.post("/api/v1/agents", big, format="json"))


def test_a_document_whose_index_would_pass_the_tsvector_limit_is_a_400_naming_it(world):
    rng = random.Random(14)
    text = " ".join(str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(30_000))  # 1.1 MB of log-like text
    ingest = {"documents": [{"content": "fine", "model": "m"}, {"content": text, "model": "m"}]}
    details = field_error(world["api"].post("/api/v1/collections/hostile/documents", ingest, format="json"))
    assert "content" in details["documents"]["1"]


@pytest.mark.parametrize(
    ("method", "url"), [("post", "/api/v1/tasks"), ("patch", "/api/v1/tenant-config"), ("post", "/api/v1/workflows")]
)
def test_an_oversize_body_is_a_json_413_everywhere(world, method, url):
    response = post(world["api"], url, " " * (11 * 1024 * 1024) + "{}", method)
    error = error_of(response)
    assert error[:2] == (413, "payload_too_large")
    assert error["details"]["limit_bytes"] == 1024 * 1024


def test_ingest_keeps_its_larger_limit(world):
    # 5 MB: over the API's 1 MB and over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), under ingest's 10 MB
    body = '{"documents": [{"content": "padded", "model": "m"}]}' + " " * (5 * 1024 * 1024)
    assert post(world["api"], "/api/v1/collections/hostile/documents", body).status_code == 200
    response = post(world["api"], "/api/v1/collections/hostile/documents", body + " " * (6 * 1024 * 1024))
    assert error_of(response)["details"]["limit_bytes"] == 10 * 1024 * 1024


@pytest.mark.parametrize(("field", "value"), [("k", "5"), ("rrf_k", "60"), ("candidates", "100"), ("k", True)])
def test_search_takes_strict_json_types(world, field, value):
    body = {"collection": "hostile", "query": "world", field: value}
    assert field in field_error(world["api"].post("/api/v1/search", body, format="json"))


def test_services_refuse_what_the_api_refuses(tenant):
    with pytest.raises(DomainError) as raised:
        tenant_config_update(tenant=tenant, features={"search": "a\u0000"})
    assert "features" in raised.value.details
    with pytest.raises(DomainError) as raised:
        agent_create(actor=Actor.for_command("test"), tenant=tenant, name="n", metadata={"x": float("inf")})
    assert "metadata" in raised.value.details


def test_the_admin_tenant_page_refuses_nul_in_features_with_a_form_error(admin_client):
    form = {
        "name": "Nul Inc",
        "is_active": "on",
        "config-TOTAL_FORMS": "1",
        "config-INITIAL_FORMS": "0",
        "config-MIN_NUM_FORMS": "1",
        "config-MAX_NUM_FORMS": "1",
        "config-0-rate_limit_config": "{}",
        "config-0-allowed_origins": "[]",
        "config-0-features": '{"search": "a\\u0000b"}',
    }
    response = admin_client.post(reverse("admin:tenants_tenant_add"), form)
    assert response.status_code == 200
    assert "NUL" in response.content.decode()


def query_operations() -> list[tuple[str, str, list[str]]]:
    found = []
    for path, operations in schema()["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
            if names and method in ("get", "delete"):
                found.append((method, path, names))
    return found


HOSTILE_QUERY_VALUES = ["a%00b", "%ED%BF%BF", "-1", "1e999", "NaN", "99999999999999999999999", "", "%5B%5D", "x" * 3000]


@pytest.mark.parametrize(("method", "path", "names"), query_operations(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_query_parameter_survives_hostile_values(world, method, path, names):
    api, url = world["api"], url_of(world, path)
    failures = []
    for name in names:
        for value in HOSTILE_QUERY_VALUES:
            response = getattr(api, method)(f"{url}?{name}={value}")
            if response.status_code >= 500 or response["Content-Type"] != "application/json":
                failures.append(f"?{name}={value[:20]}: {response.status_code}")
            elif response.status_code >= 400:
                error_of(response)
    assert not failures, f"{method.upper()} {path}:\n" + "\n".join(failures)


@pytest.mark.parametrize("bad", ['{"x": "a\\u0000b"}', '{"x": NaN}', '{"x": 1e999}'])
def test_admin_json_textareas_refuse_what_postgresql_cannot_store(admin_client, tenant, bad):
    no_inlines = {"transitions-TOTAL_FORMS": 0, "transitions-INITIAL_FORMS": 0, "delegations-TOTAL_FORMS": 0,
                  "delegations-INITIAL_FORMS": 0}  # fmt: skip
    agent = {"tenant": tenant.pk, "name": "bad", "description": "", "capabilities": "", "teams": "",
             "status": "active", "metadata": bad}  # fmt: skip
    task = {"tenant": tenant.pk, "title": "bad", "description": "", "priority": "high", "input_data": bad,
            "metadata": "{}", "max_retries": 3, "max_delegations": 3, **no_inlines}  # fmt: skip
    for url, form, model, named in (
        (reverse("admin:agents_agent_add"), agent, Agent, {"name": "bad"}),
        (reverse("admin:tasks_task_add"), task, Task, {"title": "bad"}),
    ):
        response = admin_client.post(url, form, follow=True)
        assert response.status_code == 200, (url, response.status_code)
        page = response.content.decode()
        assert "errornote" in page or "errorlist" in page or "messagelist" in page, url
        assert not model.objects.filter(tenant=tenant, **named).exists()
