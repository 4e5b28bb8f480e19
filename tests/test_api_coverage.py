"""Every route of the API (pattern and method) is called by a declared generic case (tests/api_cases.py).

The case modules are imported here, so that the registry is complete whichever test files are selected.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.api_cases import REGISTRY, view_of

CASE_MODULES = (
    "tests.apikeys.test_api_cases",
    "tests.tenants.test_api_cases",
    "tests.agents.test_api_cases",
    "tests.workspaces.test_api_cases",
    "tests.tasks.test_api_cases",
    "tests.workflows.test_api_cases",
    "tests.search.test_api_cases",
    "tests.audit.test_api_cases",
)
for _module in CASE_MODULES:
    importlib.import_module(_module)

API_PREFIX = "api/v1/"
#: Routes under /api/v1/ that are no part of the key-authenticated API.
EXCLUDED = {"health"}
NOT_ROUTES = {"head", "options", "trace"}


def _patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, route)
        else:
            yield route, pattern


def methods_of(callback: Any) -> set[str]:
    """The HTTP methods a route answers: a viewset's mapped actions, or an APIView's handlers."""
    actions = getattr(callback, "actions", None)
    if actions is not None:
        return {method.upper() for method in actions} - {name.upper() for name in NOT_ROUTES}
    view_class = callback.view_class
    return {
        method.upper()
        for method in view_class.http_method_names
        if method not in NOT_ROUTES and hasattr(view_class, method)
    }


def readable(route: str) -> str:
    """`^tasks/(?P<pk>[0-9a-f...]{12})/history$` and `<str:collection>` as `tasks/{pk}/history`, `{collection}`."""
    route = re.sub(r"\(\?P<(\w+)>[^()]*\)", r"{\1}", route)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("^", "").replace("$", "")


def api_routes() -> dict[tuple[Any, str], str]:
    """(view callback, method) -> a readable name of the route, for every route under /api/v1/."""
    routes = {}
    for route, pattern in _patterns(get_resolver().url_patterns):
        if not route.startswith(API_PREFIX) or pattern.name in EXCLUDED:
            continue
        for method in methods_of(pattern.callback):
            routes[(pattern.callback, method)] = f"{method} /{readable(route)}"
    return routes


def declared_calls() -> dict[tuple[Any, str], list[str]]:
    declared: dict[tuple[Any, str], list[str]] = {}
    for case in REGISTRY.values():
        for call in case.calls:
            callback = resolve(call.placeholder_path()).func
            declared.setdefault((callback, call.method), []).append(f"{case.name}: {call.label}")
    return declared


def test_the_route_enumeration_finds_the_api() -> None:
    names = set(api_routes().values())
    assert "GET /api/v1/me" in names
    assert "POST /api/v1/collections/{collection}/documents" in names
    assert "POST /api/v1/tasks/{pk}/transition" in names
    assert len(names) > 40


def test_every_api_route_and_method_is_covered_by_a_declared_case() -> None:
    declared = declared_calls()
    uncovered = sorted(name for key, name in api_routes().items() if key not in declared)
    assert not uncovered, "routes no generic API case calls (declare a Call in tests/<app>/test_api_cases.py):\n" + (
        "\n".join(uncovered)
    )


def test_every_declared_call_is_a_route_of_the_api() -> None:
    routes = api_routes()
    stray = sorted(label for key, labels in declared_calls().items() if key not in routes for label in labels)
    assert not stray, f"declared calls that match no route and method of the API: {stray}"


def test_every_case_module_is_imported_here() -> None:
    """A case module forgotten in CASE_MODULES would be covered only when it happens to be collected."""
    from pathlib import Path

    root = Path(__file__).parent
    found = {".".join(path.relative_to(root.parent).with_suffix("").parts) for path in root.rglob("test_api_cases.py")}
    assert found == set(CASE_MODULES)


def test_a_call_resolves_to_the_view_that_serves_it() -> None:
    view_class, action = view_of(next(call for call in REGISTRY["tasks"].calls if call.url.endswith("/history")))
    assert (view_class.__name__, action) == ("TaskViewSet", "history")
