"""The docs' reference pages are what `tools/docs_reference.py` generates from the code today: they cannot drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def generator():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "tools" / "docs_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATED = generator().generate()


@pytest.mark.parametrize("path", sorted(GENERATED), ids=lambda path: path.name)
def test_the_reference_page_is_current(path: Path) -> None:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `.venv/bin/python tools/docs_reference.py`"
    assert path.read_text() == GENERATED[path], (
        f"{path.relative_to(ROOT)} is stale: run `.venv/bin/python tools/docs_reference.py`"
    )


def test_each_reference_page_is_in_the_navigation() -> None:
    navigation = (ROOT / "mkdocs.yml").read_text()
    for path in GENERATED:
        assert f"reference/{path.name}" in navigation, path.name
