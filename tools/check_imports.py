"""Import rules that import-linter does not express (`make lint` runs this after `lint-imports`).

1. No module imports another module's underscore names (`from x import _private`): what two modules share
   is public, documented, and lives in the lower one.
2. No import of the project's own modules inside a function (a lazy import hides a dependency, often one that
   would be a cycle), except in `AppConfig.ready()`. Third-party modules may be imported late (an optional or
   heavy dependency, such as the embedded server's, loaded only where it is used).

Prints each violation as `path:line: message`; exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mcpadmin", "tenants", "agents", "apikeys", "workspaces", "tasks", "search", "workflows", "deploy")


def _is_own(node: ast.Import | ast.ImportFrom) -> bool:
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
    return (
        node.level > 0
        if isinstance(node, ast.ImportFrom) and node.level
        else any(name.split(".")[0] in PACKAGES for name in names)
    )


def violations(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(), filename=relative)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{relative}:{node.lineno}: imports the private name {node.module}.{alias.name}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == "ready":
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)) and _is_own(inner):
                    found.append(f"{relative}:{inner.lineno}: imports inside {node.name}() (a lazy import)")
    return found


def main() -> int:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found += violations(path)
    print("\n".join(found) if found else "Imports: no private names, no lazy imports.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
