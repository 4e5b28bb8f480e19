"""schemathesis hooks of tests/test_schemathesis.py (loaded by the `st` CLI through SCHEMATHESIS_HOOKS).

Positive cases follow the schema, but some rules of the API are beyond JSON Schema: an id in a body must name
an object that exists (an unknown one is a 400 naming the field), an expiry must be in the future, a search's
`candidates` at least its `k`. `map_case` makes positive cases keep those rules, with the real objects the test
created (their ids arrive in environment variables), so they reach the code behind validation. Negative cases
are left alone: they must be refused whatever they name.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import schemathesis
from schemathesis import GenerationMode

#: A valid definition of each workflow type (as in tests/workflows/test_api.py).
TASK = {"title": "t"}
DEFINITIONS = {
    "sequential": {"steps": [{"id": "one", "task": TASK}, {"id": "two", "task": TASK}]},
    "parallel": {"steps": [{"id": "a", "task": TASK}, {"id": "b", "task": TASK}], "join": "any"},
    "conditional": {
        "steps": [{"id": "a", "task": TASK}, {"id": "b", "depends_on": ["a"], "when": "true", "task": TASK}]
    },
    "loop": {"steps": [{"id": "a", "task": TASK}], "while": "$.iteration < 3", "max_iterations": 3},
    "map_reduce": {"map": {"id": "m", "items": "$.input.xs", "task": TASK}, "reduce": {"id": "r", "task": TASK}},
    "scatter_gather": {
        "scatter": {"id": "s", "task": TASK, "capabilities": ["x"], "count": 2},
        "gather": {"quorum": 1},
    },
}

#: Body members that name an agent of the caller's tenant.
AGENT_MEMBERS = ("agent_id", "assigned_agent_id", "owner_agent_id", "to_agent_id")


#: What a collection name must be (search.services): JSON Schema cannot say "printable".
COLLECTION_NAME = "fuzz"
#: Text-search configurations every PostgreSQL has (pg_ts_config); others are the database's business.
TEXT_SEARCH_CONFIGS = {"simple", "english", "german", "french"}


def _valid_collection_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 255
        and name == name.strip()
        and name.isprintable()
        and ("/" not in name)
    )


#: Free-form JSON (metadata, input_data, settings...) is refused deeper than this (MCPADMIN_JSON_MAX_DEPTH, 32).
MAX_DEPTH = 30


def _storable(value: Any, depth: int = 0) -> Any:
    """`value` as PostgreSQL can store it, which JSON Schema cannot say of free-form JSON: no NUL character, no
    lone surrogate, in any string or key, and no deeper than the limit (the API refuses those with a 400)."""
    if isinstance(value, str):
        return "".join(char for char in value if char != "\x00" and not "\ud800" <= char <= "\udfff")
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {_storable(key): _storable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item, depth + 1) for item in value]
    return value


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if not _positive(case):
        return case
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    collection = unquote(str((case.path_parameters or {}).get("collection", COLLECTION_NAME)))  # sent quoted
    if not _valid_collection_name(collection):
        case.path_parameters = {**case.path_parameters, "collection": COLLECTION_NAME}
    if not isinstance(case.body, dict):
        return case
    body = _storable(case.body)
    if operation == "POST /api/v1/collections":
        if not _valid_collection_name(body.get("name")):
            body["name"] = COLLECTION_NAME
        if body.get("text_search_config", "english") not in TEXT_SEARCH_CONFIGS:
            body["text_search_config"] = "english"  # the database's configurations: PostgreSQL's own

    if body.get("parent_task_id") is not None:
        body["parent_task_id"] = os.environ["MCPADMIN_FUZZ_TASK_ID"]
    for member in AGENT_MEMBERS:
        if body.get(member) is not None:
            body[member] = os.environ["MCPADMIN_FUZZ_AGENT_ID"]
    if body.get("workspace_id") is not None:
        body["workspace_id"] = os.environ["MCPADMIN_FUZZ_WORKSPACE_ID"]
    if operation == "POST /api/v1/workspaces":
        body["owner_agent_id"] = os.environ["MCPADMIN_FUZZ_AGENT_ID"]  # required of tenant keys
    if body.get("expires_at") is not None:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    if operation == "POST /api/v1/api-keys":
        body.pop("agent_id", None)
        if body.get("key_type") == "agent":
            body["agent_id"] = os.environ["MCPADMIN_FUZZ_AGENT_ID"]
    if operation == "POST /api/v1/workflows":
        body["definition"] = DEFINITIONS[body["workflow_type"]]
    elif operation == "PATCH /api/v1/workflows/{id}":
        body.pop("definition", None)  # its shape is the stored workflow's type, which the case cannot know
    if operation == "POST /api/v1/search" and body.get("candidates", 100) < body.get("k", 10):
        body["candidates"] = body.get("k", 10)
    case.body = body
    return case
