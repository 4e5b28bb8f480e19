"""The docs show the field tables of the code exactly (`tools/policy_tables.py`): they cannot drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reference" / "field-tables.md"


def test_the_docs_show_the_field_tables_of_the_code() -> None:
    spec = importlib.util.spec_from_file_location("policy_tables", ROOT / "tools" / "policy_tables.py")
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert module.field_tables() in PAGE.read_text(), (
        f"{PAGE.relative_to(ROOT)} is stale: run `.venv/bin/python tools/docs_reference.py`"
    )
