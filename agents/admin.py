"""Admin of agents: thin, calling the same services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html

from agents.models import Agent, AgentStatus
from agents.selectors import agent_is_online, online_since
from agents.services import agent_check_deletable, agent_create, agent_delete, agent_update
from mcpadmin.adminkit import ModelAdmin, ServiceRefusalsAsMessages, operator_actor
from mcpadmin.core.errors import DomainError


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

    # Deleting goes through `agent_delete`: an agent with open tasks (or named by history) is refused, with why, and
    # the operator is offered to disable it instead.

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            if request.method != "POST":
                agent_check_deletable(actor=operator_actor(request), agent_id=object_id)
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            self.message_user(request, self._refused_offer_disable(request, object_id, error), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:agents_agent_change", args=[object_id]))

    def _refused_offer_disable(self, request: HttpRequest, agent_id: str, error: DomainError) -> str:
        return format_html(
            'Not deleted: {} <form method="post" action="{}" style="display:inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="action" value="disable_selected"><input type="hidden" name="index" value="0">'
            '<input type="hidden" name="_selected_action" value="{}">'
            '<button type="submit">Disable this agent instead</button></form>',
            error.message,
            reverse("admin:agents_agent_changelist"),
            get_token(request),
            agent_id,
        )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, list[str]]:
        """The bulk confirmation lists each agent the service would refuse as protected, so nothing is deleted."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        for agent in objs:
            try:
                agent_check_deletable(actor=operator_actor(request), agent_id=agent.pk)
            except DomainError as error:
                protected = [*protected, f"{agent.name}: {error.message}"]
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Agent) -> None:
        agent_delete(actor=operator_actor(request), agent_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            agent_delete(actor=operator_actor(request), agent_id=agent.pk)
