"""What the OpenAPI schema says about the API as a whole (tests/test_schemathesis.py checks it against the server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from mcpadmin.api.schema import ERROR_MEANINGS
from mcpadmin.api.serializers import StrictSerializer
from mcpadmin.api.views import PlatformViewMixin, TenantScopedViewSet

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_a_browser_is_shown_the_schema_as_json_not_handed_a_download():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["openapi"].startswith("3.")


def test_format_json_and_yaml_are_both_served():
    as_json = APIClient().get("/api/schema/?format=json")
    as_yaml = APIClient().get("/api/schema/?format=yaml")
    assert as_json["Content-Type"].startswith("application/json")
    assert yaml.safe_load(as_yaml.content) == json.loads(as_json.content)


def test_the_docs_link_to_the_schema(schema):
    assert "/api/schema/?format=json" in schema["info"]["description"]
    docs = APIClient().get("/api/docs/")
    assert b"/api/schema/" in docs.content


def test_either_key_header_authenticates_alone(schema):
    assert set(schema["components"]["securitySchemes"]) == {"bearerKey", "headerKey"}
    for method, path, operation in operations(schema):
        if path == "/api/v1/health":
            assert operation["security"] == [{}], "health needs no key"
        else:
            assert operation["security"] == [{"bearerKey": []}, {"headerKey": []}], (method, path)


def test_every_authenticated_operation_documents_its_errors_with_the_error_shape(schema):
    error = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for method, path, operation in operations(schema):
        if path == "/api/v1/health":
            continue
        responses = operation["responses"]
        expected = {"401", "403", "429"}
        if "requestBody" in operation:
            expected |= {"400", "404", "413", "415"}
        if method != "get":
            expected.add("409")
        assert expected <= set(responses), (method, path, sorted(responses))
        for code in set(responses) & set(ERROR_MEANINGS):
            assert responses[code]["content"]["application/json"]["schema"] == error, (method, path, code)
    idempotent = schema["paths"]["/api/v1/tasks"]["post"]["responses"]
    assert "422" in idempotent, "an Idempotency-Key reused with another body"


def test_lists_are_documented_as_pages(schema):
    for method, path, operation in operations(schema):
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        if method == "get" and "limit" in names:
            ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.startswith("#/components/schemas/Paginated"), path
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/collections"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert parameters["offset"]["schema"]["minimum"] == 0


def test_request_bodies_are_closed_and_named_once(schema):
    components = schema["components"]["schemas"]
    assert not [name for name in components if name.endswith("RequestRequest")]
    for name in ("SearchRequest", "TransitionRequest", "DelegateRequest", "TaskCreateRequest"):
        assert components[name]["additionalProperties"] is False, name


def test_descriptions_are_for_api_users_not_the_internal_docstrings(schema):
    internal = [" ".join(cls.__doc__.split()[:6]) for cls in (StrictSerializer, PlatformViewMixin, TenantScopedViewSet)]
    text = json.dumps(schema)
    for docstring in internal:
        assert docstring not in text


def test_constraints_the_api_enforces_are_in_the_schema(schema):
    components = schema["components"]["schemas"]
    search = components["SearchRequest"]
    assert {"oneOf": [{"required": ["collection"]}, {"required": ["collection_id"]}]} in search["allOf"]
    assert components["IngestRequest"]["properties"]["documents"]["minItems"] == 1
    assert search["properties"]["query_embedding"]["minItems"] == 1
    assert components["WorkspaceCreateRequest"]["properties"]["owner_agent_id"]["format"] == "uuid"
    assert components["PatchedMemberRoleRequest"]["required"] == ["role"], "validated whole, not as a partial"
    task_id = schema["paths"]["/api/v1/tasks/{id}"]["get"]["parameters"][0]
    assert task_id["schema"]["pattern"]


# --- what schemathesis found: the server now agrees with the schema ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/workspaces?include_public=maybe", "include_public"),
        ("/api/v1/collections?include_public=-58800", "include_public"),
        ("/api/v1/api-keys?is_active=-58800", "is_active"),
    ],
)
def test_a_boolean_query_parameter_is_true_or_false_not_silently_false(admin_api, url, parameter):
    response = admin_api.get(url)
    assert response.status_code == 400, response.content
    assert parameter in response.json()["error"]["details"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["true", "false", ""])
def test_true_false_and_empty_flags_still_work(admin_api, value):
    for url in ("/api/v1/workspaces", "/api/v1/collections", "/api/v1/api-keys"):
        name = "is_active" if "api-keys" in url else "include_public"
        assert admin_api.get(f"{url}?{name}={value}").status_code == 200, (url, value)
