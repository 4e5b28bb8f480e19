"""Admin of agents: thin, calling the same services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from agents.models import Agent, AgentStatus
from agents.selectors import agent_is_online, online_since
from agents.services import agent_create, agent_update
from mcpadmin.adminkit import ModelAdmin, ServiceRefusalsAsMessages, operator_actor


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
class AgentAdmin(ServiceRefusalsAsMessages, ModelAdmin):
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
                agent_update(actor=operator_actor(request), agent_id=obj.pk, **changed)
            return
        created = agent_create(actor=operator_actor(request), tenant=obj.tenant, **values)
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
        obj._state.adding = False

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Agent], status: str) -> None:
        for agent in queryset:
            agent_update(actor=operator_actor(request), agent_id=agent.pk, status=status)
        self.message_user(request, f"{queryset.count()} agent(s) now {status}.", messages.SUCCESS)

    @admin.action(description="Disable selected agents (no new assignments or delegations)", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_status(request, queryset, AgentStatus.DISABLED)

    @admin.action(description="Enable selected agents", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_status(request, queryset, AgentStatus.ACTIVE)
