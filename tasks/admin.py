"""Operator admin of agents, tasks (with their history), workflows and their executions.

Agents and tasks are written through `tasks.services`, as the API writes
them: saving, cancelling and escalating call the same functions, so the
state machine, its history rows and the delegation rules hold here too. A
refusal of a service is shown as a message, never as a server error.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from mcpadmin.api.errors import DomainError
from tasks import state_machine
from tasks.models import (
    Agent,
    AgentStatus,
    ExecutionStatus,
    Task,
    TaskDelegationHistory,
    TaskIdempotencyKey,
    TaskStateTransition,
    TaskStatus,
    Workflow,
    WorkflowExecution,
    WorkflowExecutionIdempotencyKey,
    WorkflowStatus,
)
from tasks.selectors import agent_is_online, execution_steps, online_since
from tasks.services import (
    Actor,
    agent_create,
    agent_update,
    task_create,
    task_escalate,
    task_transition,
    task_update,
)
from tasks.workflow_definition import validate_definition
from tasks.workflow_services import (
    RETIRED_WORKFLOW_STATUSES,
    execution_cancel,
    workflow_create,
    workflow_transition,
    workflow_update,
)


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_operator(request.user.get_username())


class ServiceRefusalsAsMessages:
    """A DomainError raised by a service while saving becomes an error message on the same page (nothing saved)."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            details = "; ".join(
                f"{field}: {', '.join(map(str, problems))}" if isinstance(problems, list) else f"{field}: {problems}"
                for field, problems in (error.details.items() if isinstance(error.details, dict) else [])
            )
            self.message_user(request, f"Not saved: {error.message} {details}".strip(), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class OnlineFilter(admin.SimpleListFilter):
    title = "online"
    parameter_name = "online"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "online"), ("no", "offline")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Agent]) -> QuerySet[Agent]:
        seen = Q(last_seen_at__gte=online_since())
        if self.value() == "yes":
            return queryset.filter(seen)
        if self.value() == "no":
            return queryset.exclude(seen)
        return queryset


@admin.register(Agent)
class AgentAdmin(ServiceRefusalsAsMessages, admin.ModelAdmin):
    list_display = ("name", "tenant", "status", "online_badge", "last_seen_at", "created_at")
    list_filter = ("status", OnlineFilter, "tenant")
    search_fields = ("name", "tenant__name", "=id")
    list_select_related = ("tenant",)
    fields = (
        "tenant", "name", "description", "capabilities", "teams", "status", "metadata", "online_badge",
        "last_seen_at", "created_at", "updated_at",
    )  # fmt: skip
    actions = ["disable_selected", "enable_selected"]
    EDITABLE = ("name", "description", "capabilities", "teams", "status", "metadata")

    def get_readonly_fields(self, request: HttpRequest, obj: Agent | None = None) -> tuple[str, ...]:
        computed = ("online_badge", "last_seen_at", "created_at", "updated_at")
        return ("tenant", *computed) if obj is not None else computed

    @admin.display(description="online", ordering="last_seen_at")
    def online_badge(self, obj: Agent) -> str:
        if obj.pk is None:
            return "-"
        online = agent_is_online(obj)
        return format_html(
            '<span style="color:{};font-weight:bold">● {}</span>',
            "#2e7d32" if online else "#9e9e9e",
            "online" if online else "offline",
        )

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in self.EDITABLE if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in values.items() if name in form.changed_data}
            if changed:
                agent_update(actor=_actor(request), agent_id=obj.pk, **changed)
            return
        created = agent_create(actor=_actor(request), tenant=obj.tenant, **values)
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
        obj._state.adding = False

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Agent], status: str) -> None:
        for agent in queryset:
            agent_update(actor=_actor(request), agent_id=agent.pk, status=status)
        self.message_user(request, f"{queryset.count()} agent(s) now {status}.", messages.SUCCESS)

    @admin.action(description="Disable selected agents (no new assignments or delegations)", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_status(request, queryset, AgentStatus.DISABLED)

    @admin.action(description="Enable selected agents", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_status(request, queryset, AgentStatus.ACTIVE)


class TransitionInline(admin.TabularInline):
    model = TaskStateTransition
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "transitioned_by", "reason", "metadata")
    readonly_fields = fields
    ordering = ("created_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DelegationInline(admin.TabularInline):
    model = TaskDelegationHistory
    fk_name = "task"
    extra = 0
    can_delete = False
    fields = ("created_at", "from_agent", "to_agent", "delegation_type", "reason", "metadata")
    readonly_fields = fields
    ordering = ("created_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


TASK_CREATE_FIELDS = (
    "tenant", "title", "description", "priority", "assigned_agent", "parent_task", "workspace", "input_data",
    "metadata", "max_retries", "max_delegations", "deadline", "auto_escalate", "escalation_timeout",
)  # fmt: skip


class TaskAdminForm(forms.ModelForm):
    """Catches the references of another tenant on their field; the service checks everything again."""

    class Meta:
        model = Task
        fields = TASK_CREATE_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tenant = data.get("tenant")
        if tenant is None or not self.instance._state.adding:
            return data
        for field in ("assigned_agent", "parent_task", "workspace"):
            value = data.get(field)
            if value is not None and value.tenant_id != tenant.pk:
                self.add_error(field, "Not of the task's tenant.")
        agent = data.get("assigned_agent")
        if agent is not None and agent.status != AgentStatus.ACTIVE:
            self.add_error("assigned_agent", "A disabled agent receives no new assignments.")
        return data


@admin.register(Task)
class TaskAdmin(ServiceRefusalsAsMessages, admin.ModelAdmin):
    form = TaskAdminForm
    list_display = ("title", "tenant", "status", "priority", "assigned_agent", "delegation_count", "status_changed_at",
                    "created_at")  # fmt: skip
    list_filter = ("status", "priority", ("assigned_agent", admin.RelatedOnlyFieldListFilter), "tenant")
    search_fields = ("title", "=id")
    list_select_related = ("tenant", "assigned_agent")
    raw_id_fields = ("parent_task",)
    autocomplete_fields = ("assigned_agent",)
    inlines = [TransitionInline, DelegationInline]
    actions = ["cancel_selected", "escalate_selected"]
    #: What a task's change page may edit (the API's PATCH), while the task is not final.
    EDITABLE = ("title", "description", "priority", "deadline", "auto_escalate", "escalation_timeout")
    CREATE_FIELDS = TASK_CREATE_FIELDS
    SHOWN_FIELDS = (
        "tenant", "title", "description", "status", "priority", "assigned_agent", "parent_task", "workspace",
        "workflow_execution", "workflow_step", "created_by_key", "input_data", "output_data", "error_message",
        "retry_count", "max_retries", "delegation_count", "max_delegations", "deadline", "auto_escalate",
        "escalation_timeout", "last_escalated_at", "assigned_at", "started_at", "completed_at", "status_changed_at",
        "metadata", "created_at", "updated_at",
    )  # fmt: skip

    def get_fields(self, request: HttpRequest, obj: Task | None = None) -> tuple[str, ...]:
        return self.SHOWN_FIELDS if obj is not None else self.CREATE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        if state_machine.is_final(obj.status):
            return self.SHOWN_FIELDS
        return tuple(name for name in self.SHOWN_FIELDS if name not in self.EDITABLE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # tasks are cancelled, not deleted: their history stays

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in self.EDITABLE if name in form.changed_data}
            if changed:
                task_update(actor=_actor(request), task_id=obj.pk, **changed)
            return
        created = task_create(
            actor=_actor(request),
            tenant=data["tenant"],
            title=data["title"],
            description=data.get("description") or "",
            priority=data["priority"],
            assigned_agent_id=data["assigned_agent"].pk if data.get("assigned_agent") else None,
            parent_task_id=data["parent_task"].pk if data.get("parent_task") else None,
            workspace_id=data["workspace"].pk if data.get("workspace") else None,
            input_data=data.get("input_data") or {},
            metadata=data.get("metadata") or {},
            max_retries=data["max_retries"],
            max_delegations=data.get("max_delegations"),
            deadline=data.get("deadline"),
            auto_escalate=bool(data.get("auto_escalate")),
            escalation_timeout=data.get("escalation_timeout"),
        ).task
        obj.pk, obj.status, obj.created_at = created.pk, created.status, created.created_at
        obj._state.adding = False

    def _each(self, request: HttpRequest, queryset: QuerySet[Task], verb: str, operation: Any) -> None:
        done, refused = 0, []
        for task in queryset:
            try:
                result = operation(task)
            except DomainError as error:
                refused.append(f"{task.title!r}: {error.message}")
            else:
                done += result is not None
        if done:
            self.message_user(request, f"{verb} {done} task(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not {verb.lower()}: " + " ".join(refused), messages.ERROR)

    @admin.action(description="Cancel selected tasks", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        actor = _actor(request)
        reason = f"cancelled by {actor.operator} in the admin"
        self._each(
            request,
            queryset,
            "Cancelled",
            lambda task: task_transition(actor=actor, task_id=task.pk, to_status=TaskStatus.CANCELLED, reason=reason),
        )

    @admin.action(description="Escalate selected tasks now", permissions=["change"])
    def escalate_selected(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        actor = _actor(request)
        self._each(request, queryset, "Escalated", lambda task: task_escalate(actor=actor, task_id=task.pk, force=True))


@admin.register(TaskIdempotencyKey)
class TaskIdempotencyKeyAdmin(admin.ModelAdmin):
    """Read-only. The stored key is `<tenant id>:<SHA-256 of the client's key>`: search by the client's key too."""

    list_display = ("idempotency_key", "tenant", "task", "response_status", "created_at", "expires_at")
    list_filter = ("tenant",)
    search_fields = ("idempotency_key",)
    raw_id_fields = ("task",)
    list_select_related = ("tenant", "task")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            digest = hashlib.sha256(search_term.strip().encode()).hexdigest()
            found = found | queryset.filter(idempotency_key__endswith=f":{digest}")
        return found, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
class WorkflowAdmin(ServiceRefusalsAsMessages, admin.ModelAdmin):
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
                workflow_update(actor=_actor(request), workflow_id=obj.pk, **changed)
            return
        created = workflow_create(
            actor=_actor(request),
            tenant=data["tenant"],
            name=data["name"],
            description=data.get("description") or "",
            workflow_type=data["workflow_type"],
            definition=data["definition"],
        )
        obj.pk, obj.status, obj.created_at = created.pk, created.status, created.created_at
        obj._state.adding = False

    def _move(self, request: HttpRequest, queryset: QuerySet[Workflow], to_status: str) -> None:
        actor, done, refused = _actor(request), 0, []
        for workflow in queryset:
            try:
                workflow_transition(actor=actor, workflow_id=workflow.pk, to_status=to_status)
            except DomainError as error:
                refused.append(f"{workflow.name!r}: {error.message}")
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} workflow(s) now {to_status}.", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not {to_status}: " + " ".join(refused), messages.ERROR)

    @admin.action(description="Activate (or resume) selected workflows", permissions=["change"])
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._move(request, queryset, WorkflowStatus.ACTIVE)

    @admin.action(description="Pause selected workflows (no new steps start)", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._move(request, queryset, WorkflowStatus.PAUSED)

    @admin.action(description="Archive selected workflows (cancels their running executions)", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._move(request, queryset, WorkflowStatus.ARCHIVED)


class ExecutionTaskInline(admin.TabularInline):
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
class WorkflowExecutionAdmin(admin.ModelAdmin):
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

    @admin.display(description="per-step progress")
    def step_progress(self, obj: WorkflowExecution) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    step["id"],
                    step["kind"],
                    step["status"],
                    ", ".join(f"{task['status']}" for task in step["tasks"]) or "-",
                    step["finished_at"] or step["started_at"] or "-",
                    step["error"] or "",
                )
                for step in execution_steps(obj)
            ),
        )
        return format_html(
            "<table><tr><th>step</th><th>kind</th><th>status</th><th>tasks</th><th>since</th><th>error</th></tr>"
            "{}</table>",
            rows,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None  # the list (and its action) but no edit form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel selected executions (and their open tasks)")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[WorkflowExecution]) -> None:
        actor, done, refused = _actor(request), 0, []
        for execution in queryset:
            try:
                execution_cancel(actor=actor, execution_id=execution.pk, reason=f"cancelled by {actor.operator}")
            except DomainError as error:
                refused.append(f"{execution.pk}: {error.message}")
            else:
                done += 1
        if done:
            self.message_user(request, f"Cancelled {done} execution(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not cancelled: " + " ".join(refused), messages.ERROR)


@admin.register(WorkflowExecutionIdempotencyKey)
class WorkflowExecutionIdempotencyKeyAdmin(TaskIdempotencyKeyAdmin):
    list_display = ("idempotency_key", "tenant", "execution", "response_status", "created_at", "expires_at")
    raw_id_fields = ("execution",)
    list_select_related = ("tenant", "execution")


class HistoryAdmin(admin.ModelAdmin):
    """History is written by the services with the change it records: read-only here."""

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(TaskStateTransition)
class TaskStateTransitionAdmin(HistoryAdmin):
    list_display = ("task", "from_status", "to_status", "transitioned_by", "created_at")
    list_filter = ("to_status",)
    search_fields = ("=task__id", "task__title")
    list_select_related = ("task", "transitioned_by")


@admin.register(TaskDelegationHistory)
class TaskDelegationHistoryAdmin(HistoryAdmin):
    list_display = ("task", "from_agent", "to_agent", "delegation_type", "created_at")
    list_filter = ("delegation_type",)
    search_fields = ("=task__id", "task__title")
    list_select_related = ("task", "from_agent", "to_agent")
