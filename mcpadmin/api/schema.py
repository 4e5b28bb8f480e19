"""The OpenAPI description of the API, made to tell the truth in one place.

- `ApiKeyAuthenticationScheme`: the two key headers are alternatives (`security: [{bearerKey}, {headerKey}]`).
- `StrictSerializerScheme`: request bodies of `StrictSerializer`s refuse unknown members
  (`additionalProperties: false`), and their components are named once (`SearchRequest`, not
  `SearchRequestRequest`).
- `lib_doc_excludes`: docstrings of the internal base classes (`StrictSerializer`, `PlatformViewMixin`, ...)
  never become descriptions; only the API's own views and serializers describe themselves.
- `complete_schema`: the postprocessing hook that gives every operation the error statuses it can answer,
  all with the one error shape (component `Error`), and says that an empty filter filters nothing.
- `SchemaView`: `/api/schema/` answers JSON first (browsers show it instead of downloading it);
  `?format=yaml` gives YAML.

Loaded by McpadminConfig.ready (the extensions register themselves on import).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.plumbing import get_class, get_lib_doc_excludes
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers

from mcpadmin.api.serializers import StrictSerializer
from mcpadmin.api.views import PlatformAPIView, PlatformViewMixin, TenantScopedViewSet


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "mcpadmin.api.auth.ApiKeyAuthentication"
    name = ["bearerKey", "headerKey"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        """Either header authenticates: two requirements, each alone enough (not one requiring both)."""
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "mcp_<key_type>_<id>_<secret><checksum>",
                "description": "An API key in `Authorization: Bearer <key>`.",
            },
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The same key in `X-API-Key`."},
        ]


STRICT_BODY_DESCRIPTION = "Members not listed here are refused: a 400 names each of them."

#: Any JSON value but null (OpenAPI 3.0 has no "not null" for an untyped schema).
NON_NULL_JSON: dict[str, Any] = {
    "anyOf": [
        {"type": "object", "additionalProperties": True},
        {"type": "array", "items": {}},
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
    ]
}

#: Members whose accepted shape the field class cannot show (free JSON checked by a service), by
#: "<module>.<serializer class>.<field>". Each says what the service accepts.
FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "tenants.api.TenantConfigPatchSerializer.rate_limit_config": {
        "type": "object",
        "additionalProperties": True,
        "description": "Replaces the whole rate-limit configuration (docs, Tenant configuration).",
    },
    "tenants.api.TenantConfigPatchSerializer.allowed_origins": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Exact browser origins (`https://app.example.com`), or `*`.",
    },
    "tenants.api.TenantConfigPatchSerializer.features": {
        "type": "object",
        "additionalProperties": {
            "anyOf": [{"type": "string", "nullable": True}, {"type": "number"}, {"type": "boolean"}]
        },
        "description": "Feature names to JSON scalars; a service named `false` is switched off for the tenant.",
    },
    "workflows.api.WorkflowCreateSerializer.definition": {
        "type": "object",
        "additionalProperties": True,
        "description": "Its shape depends on `workflow_type`: GET /api/v1/workflows/schema (a 400 names each place "
        "that is wrong, such as `definition.steps[2].depends_on[0]`).",
    },
    "workflows.api.WorkflowPatchSerializer.definition": {
        "type": "object",
        "additionalProperties": True,
        "description": "A new definition for the workflow's type (GET /api/v1/workflows/schema); bumps `version`.",
    },
}

#: Rules across members that JSON Schema can state, by "<module>.<serializer class>" (the serializer's
#: `validate` enforces them; rules it cannot state are in the members' descriptions).
BODY_RULES: dict[str, dict[str, Any]] = {
    "search.api.SearchRequestSerializer": {
        "allOf": [
            {"oneOf": [{"required": ["collection"]}, {"required": ["collection_id"]}]},
            {
                "anyOf": [
                    {"required": ["query"], "properties": {"query": {"minLength": 1}}},
                    {"required": ["query_embedding"], "properties": {"query_embedding": {"type": "array"}}},
                ]
            },
        ]
    },
    "apikeys.api.ApiKeyIssueSerializer": {
        "allOf": [
            {
                "not": {
                    "required": ["expires_at", "expires_in_seconds"],
                    "properties": {"expires_at": {"type": "string"}},
                }
            },
            {
                "anyOf": [
                    {
                        "required": ["key_type", "agent_id"],
                        "properties": {"key_type": {"pattern": "^agent$"}, "agent_id": {"type": "string"}},
                    },
                    {
                        "properties": {"key_type": {"not": {"pattern": "^agent$"}}},
                        "not": {"required": ["agent_id"], "properties": {"agent_id": {"type": "string"}}},
                    },
                ]
            },
        ]
    },
}


def _only_with(member: str, to_status: str) -> dict[str, Any]:
    return {"anyOf": [{"properties": {"to_status": {"pattern": f"^{to_status}$"}}}, {"not": {"required": [member]}}]}


BODY_RULES["tasks.api.TransitionRequestSerializer"] = {
    "allOf": [
        _only_with("output_data", "completed"),
        _only_with("error_message", "failed"),
        _only_with("agent_id", "assigned"),
        {"not": {"properties": {"to_status": {"pattern": "^delegated$"}}}},  # handoffs: POST /tasks/{id}/delegate
    ]
}

#: Bodies of PATCH operations that are validated whole (every required member required), not as partial updates.
WHOLE_ON_PATCH = {"workspaces.api.MemberRoleSerializer"}


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _member_schema(field: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """A member's schema with what drf-spectacular leaves out of its field: non-empty lists, non-null JSON."""
    if isinstance(field, serializers.ListField | serializers.ListSerializer) and not field.allow_empty:
        schema.setdefault("minItems", 1)
    if isinstance(field, serializers.JSONField) and not field.allow_null and not set(schema) & {"type", "$ref"}:
        schema = {**NON_NULL_JSON, **{k: v for k, v in schema.items() if k != "nullable"}}
    return schema


class StrictSerializerScheme(OpenApiSerializerExtension):
    """Every `StrictSerializer` (request bodies) says it is closed, states the constraints it enforces, and
    gets a name without a doubled suffix."""

    target_class = StrictSerializer
    match_subclasses = True

    def get_name(self, auto_schema: Any, direction: str) -> str | None:
        # drf-spectacular appends "Request" to request components; the class names already say it.
        name = re.sub(r"Serializer$", "", get_class(self.target).__name__)
        return re.sub(r"Request$", "", name) or None

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        qualified = _qualified_name(get_class(self.target))
        target = self.target
        if qualified in WHOLE_ON_PATCH and getattr(target, "partial", False):
            target = copy.copy(target)
            target.partial = False
        schema = auto_schema._map_serializer(target, direction, bypass_extensions=True)
        properties = schema.get("properties", {})
        for name, field in getattr(target, "fields", {}).items():
            if name in properties:
                override = FIELD_SCHEMAS.get(f"{qualified}.{name}")
                properties[name] = dict(override) if override else _member_schema(field, properties[name])
        schema.update(BODY_RULES.get(qualified, {}))
        schema["additionalProperties"] = False
        schema.setdefault("description", STRICT_BODY_DESCRIPTION)
        return schema


def lib_doc_excludes() -> list[type]:
    """drf-spectacular's own list plus our internal bases: their docstrings are for developers, not API users."""
    return [*get_lib_doc_excludes(), StrictSerializer, PlatformViewMixin, PlatformAPIView, TenantScopedViewSet]


# --- errors ------------------------------------------------------------------------------------------------------

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one shape of every error of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable and machine-readable: `invalid`, `not_found`, ..."},
                "message": {"type": "string", "description": "For people."},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "What is wrong where: for `invalid`, `{field: [messages]}` (nested paths for "
                    "nested members).",
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

#: What each error status means, as documented on every operation that can answer it.
ERROR_MEANINGS = {
    "400": "The request is not valid: `details` names each bad field or parameter.",
    "401": "No key, or a key that is unknown, wrong, expired, revoked or inactive (all alike).",
    "403": "The key's type, `allowed_services`, the tenant's feature switches or the caller's role do not allow this.",
    "404": "No such object for this caller (objects of other tenants are 404 too).",
    "409": "The object's current state does not allow this, or another request changed it first.",
    "413": "The body is larger than the endpoint accepts.",
    "415": "The body is not `application/json`.",
    "422": "The Idempotency-Key was used before with another body.",
    "429": "Rate limit exceeded (or too many failed authentications from this client): see `Retry-After`.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def error_statuses(method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses an operation can answer, derived from what it is (authenticated, has a body, ...)."""
    if not operation.get("security") or operation.get("security") == [{}]:
        return []  # unauthenticated (health): nothing of the API's machinery applies
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    has_path_parameters = any(parameter.get("in") == "path" for parameter in parameters)
    statuses = ["401", "403", "429"]
    if has_body or parameters:
        statuses.append("400")
    if has_path_parameters or has_body:
        statuses.append("404")  # the object in the path, or one a body names (an agent, a collection, ...)
    if method in WRITE_METHODS:
        statuses.append("409")
    if has_body:
        statuses += ["413", "415"]
    if any(parameter.get("name") == "Idempotency-Key" for parameter in parameters):
        statuses.append("422")
    return sorted(statuses)


def complete_schema(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the `Error` component, each operation's error statuses (unless it documents one),
    and the filters' empty values."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                _add_error_responses(method, operation)
                _allow_empty_filters(operation)
    return result


def _add_error_responses(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code in error_statuses(method, operation):
        response: dict[str, Any] = {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}},
        }
        if code == "429":
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
        responses.setdefault(code, response)


#: Query parameters of pagination, with the ranges mcpadmin.api.pagination accepts (a larger limit is the maximum
#: page size); not filters: an empty value is a 400 there, not "no filter".
PAGINATION_PARAMETERS = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "offset": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
}


def _allow_empty_filters(operation: dict[str, Any]) -> None:
    """A list filter given empty (`?workspace_id=`) filters nothing (django-filter's rule): say so. Pagination
    parameters get their ranges."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") in PAGINATION_PARAMETERS:
            parameter["schema"] = {**parameter.get("schema", {}), **PAGINATION_PARAMETERS[parameter["name"]]}
        if (
            parameter.get("in") == "query"
            and parameter.get("name") not in PAGINATION_PARAMETERS
            and parameter.get("schema", {}).get("type") != "array"  # a repeated choice: an empty one is a 400
        ):
            parameter["allowEmptyValue"] = True


class SchemaView(SpectacularAPIView):
    """The schema, JSON first: a browser opening /api/schema/ sees it rather than downloading a YAML file."""

    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer, OpenApiYamlRenderer, OpenApiYamlRenderer2]
