"""The README shows the field tables of the code exactly (`tools/policy_tables.py`): they cannot drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_shows_the_field_tables_of_the_code() -> None:
    spec = importlib.util.spec_from_file_location("policy_tables", ROOT / "tools" / "policy_tables.py")
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text()
    assert module.field_tables() in readme, "README.md is stale: paste the output of `python tools/policy_tables.py`"
