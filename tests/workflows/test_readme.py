"""The README's workflow examples are valid definitions of their type, and its status table is the code's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workflows.definition import validate_definition
from workflows.services import WORKFLOW_TRANSITIONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def examples() -> list[tuple[str, dict]]:
    section = README[README.index("## Workflows") : README.index("## Development")]
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
def test_each_readme_example_is_valid(tenant, workflow_type, definition):
    validate_definition(workflow_type, definition, tenant_id=tenant.pk)


def test_the_readme_status_table_is_the_status_machine():
    section = README[README.index("### Workflow status") : README.index("### Assignment")]
    table: dict[str, tuple[str, ...]] = {}
    for sources, targets in re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|$", section, re.MULTILINE):
        for source in re.findall(r"`(\w+)`", sources):
            table[source] = tuple(re.findall(r"`(\w+)`", targets))
    assert table == {status: tuple(targets) for status, targets in WORKFLOW_TRANSITIONS.items()}
