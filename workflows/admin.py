"""Admin of workflows and their executions: thin, calling the same services as the API."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from mcpadmin.adminkit import (
    IdempotencyRecordAdmin,
    ModelAdmin,
    ServiceRefusalsAsMessages,
    TabularInline,
    each_through_service,
    human_time,
    operator_actor,
)
from mcpadmin.core.errors import DomainError
from tasks.models import FINAL_TASK_STATUSES, Task
from workflows.definition import validate_definition
from workflows.models import (
    ExecutionStatus,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionIdempotencyKey,
    WorkflowStatus,
)
from workflows.selectors import execution_steps
from workflows.services import (
    RETIRED_WORKFLOW_STATUSES,
    execution_cancel,
    workflow_create,
    workflow_transition,
    workflow_update,
)


class WorkflowAdminForm(forms.ModelForm):
    """The definition is checked by the API's validator; each problem is a line of the field's error, by place."""

    class Meta:
        model = Workflow
        fields = ("tenant", "name", "description", "workflow_type", "definition")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tenant = data.get("tenant") or getattr(self.instance, "tenant", None)
        workflow_type = data.get("workflow_type") or self.instance.workflow_type
        if tenant is None or not workflow_type or "definition" not in data:
            return data
        try:
            validate_definition(workflow_type, data["definition"], tenant_id=tenant.pk)
        except DomainError as error:
            self.add_error(
                "definition",
                [f"{place}: {message}" for place, messages in error.details.items() for message in messages],
            )
        return data


@admin.register(Workflow)
class WorkflowAdmin(ServiceRefusalsAsMessages, ModelAdmin):
    form = WorkflowAdminForm
    list_display = ("name", "tenant", "workflow_type", "status", "version", "running_executions", "updated_at")
    list_filter = ("workflow_type", "status", "tenant")
    search_fields = ("name", "=id")
    list_select_related = ("tenant",)
    actions = ["activate_selected", "pause_selected", "archive_selected"]

    def get_fields(self, request: HttpRequest, obj: Workflow | None = None) -> tuple[str, ...]:
        editable = ("tenant", "name", "description", "workflow_type", "definition")
        return editable if obj is None else (*editable, "status", "version", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Workflow | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        fixed = ("tenant", "workflow_type", "status", "version", "created_at", "updated_at")
        return (*fixed, "name", "description", "definition") if obj.status in RETIRED_WORKFLOW_STATUSES else fixed

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workflow]:
        running = Count("executions", filter=Q(executions__status=ExecutionStatus.RUNNING))
        return super().get_queryset(request).annotate(running_count=running)

    @admin.display(description="running", ordering="running_count")
    def running_executions(self, obj: Workflow) -> int:
        return obj.running_count

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archived, not deleted: executions and their tasks keep their workflow

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: Workflow, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in ("name", "description", "definition") if name in form.changed_data}
            if changed:
                workflow_update(actor=operator_actor(request), workflow_id=obj.pk, **changed)
            return
        created = workflow_create(
            actor=operator_actor(request),
            tenant=data["tenant"],
            name=data["name"],
            description=data.get("description") or "",
            workflow_type=data["workflow_type"],
            definition=data["definition"],
        )
        obj.pk, obj.status, obj.created_at = created.pk, created.status, created.created_at
        obj._state.adding = False

    def _move(self, request: HttpRequest, queryset: QuerySet[Workflow], to_status: str) -> None:
        actor = operator_actor(request)
        each_through_service(
            self,
            request,
            queryset,
            lambda workflow: workflow_transition(actor=actor, workflow_id=workflow.pk, to_status=to_status),
            label=lambda workflow: repr(workflow.name),
            done=lambda count: f"{count} workflow(s) now {to_status}.",
            refused=f"Not {to_status}",
        )

    @admin.action(description="Activate (or resume) selected workflows", permissions=["change"])
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._move(request, queryset, WorkflowStatus.ACTIVE)

    @admin.action(description="Pause selected workflows (no new steps start)", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._move(request, queryset, WorkflowStatus.PAUSED)

    @admin.action(description="Archive selected workflows (cancels their running executions)", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._move(request, queryset, WorkflowStatus.ARCHIVED)


#: How each state of a step looks on the execution page.
STATE_STYLES = {
    "waiting": "background:#e5e7eb;color:#374151",
    "waiting for an agent": "background:#fef3c7;color:#92400e",
    "held": "background:#e0e7ff;color:#3730a3",
    "running": "background:#dbeafe;color:#1e40af",
    "completed": "background:#dcfce7;color:#166534",
    "skipped": "background:#f3f4f6;color:#6b7280",
    "failed": "background:#fee2e2;color:#991b1b",
    "cancelled": "background:#f3f4f6;color:#6b7280",
}
for _name, _style in list(STATE_STYLES.items()):
    STATE_STYLES[_name] = f"{_style};border-radius:.25rem;padding:0 .4rem;font-size:.8rem"


def _uuid(value: Any) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return value


def step_state(step: dict[str, Any], tasks_by_id: dict[Any, tuple[str, str | None]]) -> str:
    """What a step is doing, for an operator: a running step none of whose open tasks has an agent is waiting for
    one (its tasks stay pending until an agent qualifies), which "running" would hide. `tasks_by_id`: task id →
    (status, agent name or None)."""
    if step["status"] != "running":
        return step["status"]
    open_tasks = [
        tasks_by_id[key]
        for key in (_uuid(task["task_id"]) for task in step["tasks"] if task["task_id"])
        if key in tasks_by_id and tasks_by_id[key][0] not in FINAL_TASK_STATUSES
    ]
    if open_tasks and all(agent is None for _, agent in open_tasks):
        return "waiting for an agent"
    return "running"


class ExecutionTaskInline(TabularInline):
    model = Task
    fk_name = "workflow_execution"
    extra = 0
    can_delete = False
    fields = ("title", "workflow_step", "status", "assigned_agent", "retry_count", "completed_at")
    readonly_fields = fields
    ordering = ("created_at",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(ModelAdmin):
    """Read-only: executions change through the engine; "Cancel selected executions" calls `execution_cancel`."""

    list_display = ("id", "workflow", "tenant", "status", "progress", "started_at", "completed_at")
    list_filter = ("status", "tenant")
    search_fields = ("=id", "workflow__name")
    list_select_related = ("workflow", "tenant")
    fields = ("workflow", "tenant", "status", "error_message", "step_progress", "input_data", "output_data",
              "started_at", "completed_at", "updated_at")  # fmt: skip
    readonly_fields = fields
    inlines = [ExecutionTaskInline]
    actions = ["cancel_selected"]

    @admin.display(description="steps done")
    def progress(self, obj: WorkflowExecution) -> str:
        steps = execution_steps(obj)
        done = sum(step["status"] in ("completed", "skipped", "failed", "cancelled") for step in steps)
        return f"{done}/{len(steps)}"

    @admin.display(description="steps")
    def step_progress(self, obj: WorkflowExecution) -> str:
        """The steps in definition order, each with its state, its tasks (linked, with their agents) and when it
        last moved. A running step whose open tasks have no agent yet is "waiting for an agent", not "running"."""
        steps = execution_steps(obj)
        task_ids = [task["task_id"] for step in steps for task in step["tasks"] if task["task_id"]]
        tasks_by_id = {
            pk: (status, agent)
            for pk, status, agent in Task.objects.filter(pk__in=task_ids).values_list(
                "pk", "status", "assigned_agent__name"
            )
        }  # one query for the whole page
        items = []
        for number, step in enumerate(steps, start=1):
            state = step_state(step, tasks_by_id)
            tasks = format_html_join(
                ", ",
                '<a href="{}">{}</a> ({})',
                (
                    (
                        reverse("admin:tasks_task_change", args=[task["task_id"]]),
                        tasks_by_id.get(_uuid(task["task_id"]), (task["status"], None))[0],
                        tasks_by_id.get(_uuid(task["task_id"]), (None, None))[1] or "no agent",
                    )
                    for task in step["tasks"]
                    if task["task_id"]
                ),
            )
            items.append(
                format_html(
                    '<li class="wf-step wf-{}"><strong>{}. {}</strong> <small>{}</small> '
                    '<span class="wf-state" style="{}">{}</span> {} <small>{}</small>{}</li>',
                    step["status"],
                    number,
                    step["id"],
                    step["kind"],
                    STATE_STYLES.get(state, STATE_STYLES["waiting"]),
                    state,
                    tasks or "",
                    human_time(step["finished_at"] or step["started_at"])
                    if (step["finished_at"] or step["started_at"])
                    else "",
                    format_html('<br><span style="color:#b91c1c">{}</span>', step["error"]) if step["error"] else "",
                )
            )
        return (
            format_html(
                '<ol class="wf-steps" style="list-style:none;padding:0;margin:0;display:flex;flex-direction:column;'
                'gap:.4rem">{}</ol>',
                format_html_join("", "{}", ((item,) for item in items)),
            )
            if items
            else "-"
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None  # the list (and its action) but no edit form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel selected executions (and their open tasks)")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[WorkflowExecution]) -> None:
        actor = operator_actor(request)
        each_through_service(
            self,
            request,
            queryset,
            lambda execution: execution_cancel(
                actor=actor, execution_id=execution.pk, reason=f"cancelled by {actor.operator}"
            ),
            label=lambda execution: str(execution.pk),
            done=lambda count: f"Cancelled {count} execution(s).",
            refused="Not cancelled",
        )


@admin.register(WorkflowExecutionIdempotencyKey)
class WorkflowExecutionIdempotencyKeyAdmin(IdempotencyRecordAdmin):
    list_display = ("idempotency_key", "tenant", "execution", "response_status", "created_at", "expires_at")
    raw_id_fields = ("execution",)
    list_select_related = ("tenant", "execution")
