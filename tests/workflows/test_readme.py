"""The docs' workflow examples (docs/developers/workflows.md) are valid definitions of their type, and its status
table is the code's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workflows.definition import validate_definition
from workflows.services import WORKFLOW_TRANSITIONS

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "developers" / "workflows.md").read_text()


def examples() -> list[tuple[str, dict]]:
    section = PAGE
    block = re.search(r"```jsonc\n(.*?)```", section, re.DOTALL).group(1)
    found = []
    for chunk in block.strip().split("\n\n"):
        lines = chunk.splitlines()
        workflow_type = lines[0].removeprefix("// ").split(":")[0]
        found.append((workflow_type, json.loads("\n".join(line for line in lines if not line.startswith("//")))))
    return found


def test_there_is_one_example_per_type():
    assert [workflow_type for workflow_type, _ in examples()] == [
        "sequential", "parallel", "conditional", "loop", "map_reduce", "scatter_gather"
    ]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("workflow_type", "definition"), examples())
def test_each_documented_example_is_valid(tenant, workflow_type, definition):
    validate_definition(workflow_type, definition, tenant_id=tenant.pk)


def test_the_documented_status_table_is_the_status_machine():
    section = PAGE[PAGE.index("## Workflow status") : PAGE.index("## Assignment")]
    table: dict[str, tuple[str, ...]] = {}
    for sources, targets in re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|$", section, re.MULTILINE):
        for source in re.findall(r"`(\w+)`", sources):
            table[source] = tuple(re.findall(r"`(\w+)`", targets))
    assert table == {status: tuple(targets) for status, targets in WORKFLOW_TRANSITIONS.items()}


def test_the_documented_status_diagram_is_the_status_machine():
    section = PAGE[PAGE.index("## Workflow status") : PAGE.index("## Assignment")]
    diagram = section.split("```mermaid\n")[1].split("```")[0]
    edges = re.findall(r"^\s*(\w+) --> (\w+)$", diagram, re.MULTILINE)
    drawn = {status: tuple(target for source, target in edges if source == status) for status in WORKFLOW_TRANSITIONS}
    assert drawn == {status: tuple(targets) for status, targets in WORKFLOW_TRANSITIONS.items()}
