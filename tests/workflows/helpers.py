"""Helpers of the workflow tests: online agents with keys, workflows made and run through the API, agents at work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from tasks.models import Task
from tests import factories


@dataclass
class Worker:
    """An agent of the tenant with its own key: it works the tasks assigned to it through the API."""

    agent: Any
    api: Any

    @property
    def id(self) -> str:
        return str(self.agent.pk)

    def open_tasks(self) -> list[Task]:
        return list(
            Task.objects.filter(assigned_agent=self.agent, status__in=["assigned", "in_progress"]).order_by(
                "created_at", "metadata__workflow__slot"
            )
        )

    def start(self, task: Task | str) -> None:
        task_id = task.pk if isinstance(task, Task) else task
        response = self.api.post(f"/api/v1/tasks/{task_id}/transition", {"to_status": "in_progress"}, format="json")
        assert response.status_code == 200, response.json()

    def complete(self, task: Task | str, output: Any = None) -> Any:
        task_id = task.pk if isinstance(task, Task) else task
        self.start(task_id)
        body = {"to_status": "completed", "output_data": output if output is not None else {}}
        return self.api.post(f"/api/v1/tasks/{task_id}/transition", body, format="json")

    def fail(self, task: Task | str, error: str = "it broke") -> Any:
        task_id = task.pk if isinstance(task, Task) else task
        self.start(task_id)
        return self.api.post(
            f"/api/v1/tasks/{task_id}/transition", {"to_status": "failed", "error_message": error}, format="json"
        )

    def only_task(self) -> Task:
        (task,) = self.open_tasks()
        return task


def worker(tenant: Any, name: str | None = None, *, online: bool = True, **fields: Any) -> Worker:
    if online:
        fields.setdefault("last_seen_at", timezone.now())
    status = fields.pop("status", "active")
    agent = factories.agent(tenant, name=name or factories.unique("worker"), **fields)
    issued = factories.issued_key(tenant, "agent", agent=agent)
    if status != "active":  # keys are issued to active agents only
        agent.status = status
        agent.save(update_fields=["status"])
    return Worker(agent=agent, api=factories.client_for(issued.raw_key))


def active_workflow(api: Any, workflow_type: str, definition: dict[str, Any], **fields: Any) -> str:
    response = api.post(
        "/api/v1/workflows",
        {"name": factories.unique("flow"), "workflow_type": workflow_type, "definition": definition, **fields},
        format="json",
    )
    assert response.status_code == 201, response.json()
    workflow_id = response.json()["id"]
    activated = api.post(f"/api/v1/workflows/{workflow_id}/transition", {"to_status": "active"}, format="json")
    assert activated.status_code == 200, activated.json()
    return workflow_id


def run(api: Any, workflow_id: str, input_data: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(f"/api/v1/workflows/{workflow_id}/executions", {"input": input_data or {}}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def execution(api: Any, execution_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/workflow-executions/{execution_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def steps(api: Any, execution_id: str) -> dict[str, str]:
    """Step id -> status."""
    return {step["id"]: step["status"] for step in execution(api, execution_id)["steps"]}


def step_tasks(execution_id: str, step: str) -> list[Task]:
    tasks = Task.objects.filter(workflow_execution_id=execution_id, workflow_step=step)
    return list(tasks.order_by("created_at", "metadata__workflow__slot"))
