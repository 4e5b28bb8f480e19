"""Operator admin of agents, tasks (with their history) and workflows.

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
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html

from mcpadmin.api.errors import DomainError
from tasks import state_machine
from tasks.models import (
    Agent,
    AgentStatus,
    Task,
    TaskDelegationHistory,
    TaskIdempotencyKey,
    TaskStateTransition,
    TaskStatus,
    Workflow,
    WorkflowExecution,
)
from tasks.selectors import agent_is_online, online_since
from tasks.services import (
    Actor,
    agent_create,
    agent_update,
    task_create,
    task_escalate,
    task_transition,
    task_update,
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


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "workflow_type", "status", "version", "updated_at")
    list_filter = ("workflow_type", "status", "tenant")
    search_fields = ("name",)
    list_select_related = ("tenant",)


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "tenant", "status", "started_at", "completed_at")
    list_filter = ("status", "tenant")
    list_select_related = ("workflow", "tenant")
    raw_id_fields = ("workflow",)


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
