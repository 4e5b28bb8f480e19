"""Which caller may write which field of a task (`tasks.policy.TASK_FIELD_WRITERS`), cell by cell, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.policy import TASK_FIELD_WRITERS
from tests import factories
from tests.api_cases import error_of, make_ctx
from tests.field_matrix import FieldCase, Reached, field_tests
from workspaces.models import WorkspaceMember

#: The API's names where they differ from the service's.
API_NAMES = {"escalation_timeout": "escalation_timeout_seconds"}
VALUES = {
    "title": "a new title",
    "description": "a new description",
    "priority": "critical",
    "deadline": "2031-01-01T00:00:00Z",
    "auto_escalate": False,
    "escalation_timeout": 7200,
}
CREATED = {"title": "t", "priority": "low", "auto_escalate": True, "escalation_timeout_seconds": 3600}


def _reach(key_type: str) -> Reached | None:
    """Tenant keys edit any task of their tenant; an agent key, the task it created in a workspace where it is a
    contributor; a user key edits none (it only cancels its own)."""
    ctx = make_ctx(key_type)
    if key_type == "user":
        return None
    body = dict(CREATED)
    if key_type == "agent":
        space = factories.workspace(ctx.tenant)
        WorkspaceMember.objects.create(workspace=space, agent=ctx.agent, role="contributor")
        body["workspace_id"] = str(space.pk)
        created = ctx.api.post("/api/v1/tasks", body, format="json")
    else:
        created = ctx.admin.post("/api/v1/tasks", body, format="json")
    assert created.status_code == 201, created.json()
    url = f"/api/v1/tasks/{created.json()['id']}"

    def write(field: str, value: Any) -> Any:
        return ctx.api.patch(url, {API_NAMES.get(field, field): value}, format="json")

    def stored(field: str) -> Any:
        return ctx.admin.get(url).json()[API_NAMES.get(field, field)]

    return Reached(write=write, stored=stored)


globals().update(field_tests(FieldCase("task", TASK_FIELD_WRITERS, "tasks", VALUES, _reach)))


@pytest.mark.django_db
def test_a_contributor_cannot_switch_off_the_escalation_of_its_own_task() -> None:
    reached = _reach("agent")
    assert reached is not None
    response = reached.write("auto_escalate", False)
    assert error_of(response) == (403, "field_not_allowed", ["auto_escalate"])
    assert reached.stored("auto_escalate") is True
