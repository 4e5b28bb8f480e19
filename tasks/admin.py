"""Operator admin of agents, tasks (with their history), workflows and their executions.

Agents and tasks are written through `tasks.services`, as the API writes
them: saving, cancelling and escalating call the same functions, so the
state machine, its history rows and the delegation rules hold here too. A
refusal of a service is shown as a message, never as a server error.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from agents.models import AgentStatus
from mcpadmin.adminkit import (
    IdempotencyRecordAdmin,
    ModelAdmin,
    ReadOnlyAdmin,
    ServiceRefusalsAsMessages,
    TabularInline,
    actor_label,
    each_through_service,
    human_time,
    operator_actor,
)
from tasks import state_machine
from tasks.models import Task, TaskDelegationHistory, TaskIdempotencyKey, TaskStateTransition, TaskStatus
from tasks.services import task_create, task_escalate, task_transition, task_update


class HistoryRowDisplay:
    """History rows as an operator reads them: when (local time, how long ago), which agent, which actor
    (operator, command, API key) from `metadata.actor`, and the rest of the metadata."""

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: Any) -> str:
        return human_time(obj.created_at)

    @admin.display(description="actor")
    def actor(self, obj: Any) -> str:
        return actor_label(obj.metadata)

    @admin.display(description="details")
    def details(self, obj: Any) -> str:
        rest = {name: value for name, value in (obj.metadata or {}).items() if name != "actor"}
        return ", ".join(f"{name}: {value}" for name, value in rest.items()) or "-"


class TransitionInline(HistoryRowDisplay, TabularInline):
    model = TaskStateTransition
    extra = 0
    can_delete = False
    fields = ("when", "from_status", "to_status", "transitioned_by", "actor", "reason", "details")
    readonly_fields = fields
    ordering = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskStateTransition]:
        return super().get_queryset(request).select_related("transitioned_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DelegationInline(HistoryRowDisplay, TabularInline):
    model = TaskDelegationHistory
    fk_name = "task"
    extra = 0
    can_delete = False
    fields = ("when", "from_agent", "to_agent", "delegation_type", "actor", "reason", "details")
    readonly_fields = fields
    ordering = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskDelegationHistory]:
        return super().get_queryset(request).select_related("from_agent", "to_agent")

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
class TaskAdmin(ServiceRefusalsAsMessages, ModelAdmin):
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
                task_update(actor=operator_actor(request), task_id=obj.pk, **changed)
            return
        created = task_create(
            actor=operator_actor(request),
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
        ).obj
        obj.pk, obj.status, obj.created_at = created.pk, created.status, created.created_at
        obj._state.adding = False

    def _each(self, request: HttpRequest, queryset: QuerySet[Task], verb: str, operation: Any) -> None:
        each_through_service(
            self,
            request,
            queryset,
            operation,
            label=lambda task: repr(task.title),
            done=lambda count: f"{verb} {count} task(s).",
            refused=f"Not {verb.lower()}",
        )

    @admin.action(description="Cancel selected tasks", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        actor = operator_actor(request)
        reason = f"cancelled by {actor.operator} in the admin"
        self._each(
            request,
            queryset,
            "Cancelled",
            lambda task: task_transition(actor=actor, task_id=task.pk, to_status=TaskStatus.CANCELLED, reason=reason),
        )

    @admin.action(description="Escalate selected tasks now", permissions=["change"])
    def escalate_selected(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        actor = operator_actor(request)
        self._each(request, queryset, "Escalated", lambda task: task_escalate(actor=actor, task_id=task.pk, force=True))


@admin.register(TaskIdempotencyKey)
class TaskIdempotencyKeyAdmin(IdempotencyRecordAdmin):
    list_display = ("idempotency_key", "tenant", "task", "response_status", "created_at", "expires_at")
    raw_id_fields = ("task",)
    list_select_related = ("tenant", "task")


class HistoryAdmin(ReadOnlyAdmin):
    """History is written by the services with the change it records: read-only here, and never deleted."""

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


class EventFilter(admin.SimpleListFilter):
    """Escalations are transition rows with `metadata.event = "escalation"` (a partial index serves them)."""

    title = "event"
    parameter_name = "event"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("escalation", "escalations")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(metadata__event="escalation") if self.value() == "escalation" else queryset


@admin.register(TaskStateTransition)
class TaskStateTransitionAdmin(HistoryRowDisplay, HistoryAdmin):
    list_display = ("when", "task", "from_status", "to_status", "transitioned_by", "actor")
    list_filter = ("to_status", EventFilter, ("task__tenant", admin.RelatedFieldListFilter))
    search_fields = ("=task__id", "task__title")
    list_select_related = ("task", "transitioned_by")
    fields = ("task", "when", "from_status", "to_status", "transitioned_by", "actor", "reason", "details", "metadata")
    readonly_fields = fields


@admin.register(TaskDelegationHistory)
class TaskDelegationHistoryAdmin(HistoryRowDisplay, HistoryAdmin):
    list_display = ("when", "task", "from_agent", "to_agent", "delegation_type", "actor")
    list_filter = ("delegation_type", ("task__tenant", admin.RelatedFieldListFilter))
    search_fields = ("=task__id", "task__title")
    list_select_related = ("task", "from_agent", "to_agent")
    fields = ("task", "when", "from_agent", "to_agent", "delegation_type", "actor", "reason", "details", "metadata")
    readonly_fields = fields
