"""The search app's layers, read from its source: reads never import writes, the domain never imports an interface,
and no import hides inside a function (where it would only dodge a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import search

APP = Path(search.__file__).parent
#: Module -> the modules of this app it must not import.
FORBIDDEN = {
    "selectors": {"services", "api", "admin", "urls"},
    "statements": {"services", "selectors", "api", "admin", "urls"},
    "filters": {"services", "selectors", "api", "admin", "urls"},
    "policy": {"services", "selectors", "api", "admin", "urls"},
    "services": {"selectors", "api", "admin", "urls"},
    "models": {"services", "selectors", "policy", "api", "admin", "urls"},
}


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_domain_modules_import_no_layer_above_them(module):
    imported = imported_modules(ast.parse((APP / f"{module}.py").read_text()))
    assert not {f"search.{name}" for name in FORBIDDEN[module]} & imported


def test_no_import_inside_a_function():
    """Except `AppConfig.ready()`, which registers the system checks once the apps are loaded."""
    hidden = []
    for path in sorted(APP.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "ready":
                hidden += [
                    f"{path.relative_to(APP)}:{inner.lineno}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    assert hidden == []
