"""Operator admin of agents, tasks (with their history) and workflows."""

from __future__ import annotations

from django.contrib import admin

from tasks.models import (
    Agent,
    Task,
    TaskDelegationHistory,
    TaskIdempotencyKey,
    TaskStateTransition,
    Workflow,
    WorkflowExecution,
)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "status", "last_seen_at", "created_at")
    list_filter = ("status", "tenant")
    search_fields = ("name", "tenant__name")
    list_select_related = ("tenant",)


class TransitionInline(admin.TabularInline):
    model = TaskStateTransition
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "transitioned_by", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


class DelegationInline(admin.TabularInline):
    model = TaskDelegationHistory
    fk_name = "task"
    extra = 0
    can_delete = False
    fields = ("created_at", "from_agent", "to_agent", "delegation_type", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "tenant", "status", "priority", "assigned_agent", "created_at")
    list_filter = ("status", "priority", "tenant")
    search_fields = ("title", "=id")
    list_select_related = ("tenant", "assigned_agent")
    raw_id_fields = ("parent_task", "created_by_key", "workflow_execution")
    autocomplete_fields = ("assigned_agent",)
    inlines = [TransitionInline, DelegationInline]


@admin.register(TaskIdempotencyKey)
class TaskIdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("idempotency_key", "tenant", "task", "created_at", "expires_at")
    list_filter = ("tenant",)
    search_fields = ("idempotency_key",)
    raw_id_fields = ("task",)


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
