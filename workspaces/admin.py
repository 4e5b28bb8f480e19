"""Admin of workspaces and members: thin, calling the same services as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import HttpRequest

from agents.models import Agent, AgentStatus
from mcpadmin.adminkit import ModelAdmin, TabularInline, operator_actor
from workspaces.models import MemberRole, Workspace, WorkspaceMember
from workspaces.services import (
    workspace_create,
    workspace_delete,
    workspace_member_add,
    workspace_member_remove,
    workspace_member_set_role,
    workspace_update,
)


class WorkspaceMemberFormSet(forms.BaseInlineFormSet):
    """Checks before saving what the services and the database insist on: an owner remains, agents fit."""

    def clean(self) -> None:
        super().clean()
        workspace = self.instance
        owners = 0
        if workspace._state.adding:
            return
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            agent = data.get("agent")
            if agent is not None and workspace.tenant_id and agent.tenant_id != workspace.tenant_id:
                form.add_error("agent", "Members are agents of the workspace's tenant.")
            if data.get("role") == MemberRole.OWNER:
                owners += 1
        if owners == 0:
            raise forms.ValidationError("A workspace always keeps at least one owner.")


class WorkspaceMemberInline(TabularInline):
    model = WorkspaceMember
    formset = WorkspaceMemberFormSet
    extra = 0
    autocomplete_fields = ("agent",)


class WorkspaceAdminForm(forms.ModelForm):
    owner = forms.ModelChoiceField(
        queryset=Agent.objects.filter(status=AgentStatus.ACTIVE),
        required=False,
        help_text="The first owner (required when creating; an active agent of the tenant).",
    )

    class Meta:
        model = Workspace
        fields = ("tenant", "name", "description", "visibility", "team_tags", "settings")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance._state.adding:
            owner = data.get("owner")
            if owner is None:
                self.add_error("owner", "A new workspace needs its first owner.")
            elif data.get("tenant") and owner.tenant_id != data["tenant"].id:
                self.add_error("owner", "The owner must be an agent of the workspace's tenant.")
        return data


class MemberRoleFilter(admin.SimpleListFilter):
    """Workspaces with at least one member of a role: an EXISTS, so the member count is not multiplied by a join."""

    title = "has a member with role"
    parameter_name = "member_role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return MemberRole.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        if self.value() not in MemberRole.values:
            return queryset
        members = WorkspaceMember.objects.filter(workspace=OuterRef("pk"), role=self.value())
        return queryset.filter(Exists(members))


@admin.register(Workspace)
class WorkspaceAdmin(ModelAdmin):
    form = WorkspaceAdminForm
    list_display = ("name", "tenant", "visibility", "member_count", "created_at")
    list_filter = ("visibility", MemberRoleFilter, "tenant")
    search_fields = ("name", "tenant__name")
    list_select_related = ("tenant",)
    inlines = [WorkspaceMemberInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["tenant", "name", "description", "visibility", "team_tags", "settings"]
        return [*fields, "owner"] if obj is None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("tenant",) if obj is not None else ()

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> Any:
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Any) -> int:
        return obj.member_total

    def save_model(self, request: HttpRequest, obj: Workspace, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in ("name", "description", "visibility", "team_tags",
                                                              "settings")}  # fmt: skip
        if change:
            workspace_update(actor=operator_actor(request), workspace_id=obj.pk, **fields)
            return
        created = workspace_create(
            actor=operator_actor(request),
            tenant=form.cleaned_data["tenant"],
            owner_agent_id=form.cleaned_data["owner"].pk,
            **fields,
        )
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
        obj._state.adding = False

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Members go with their workspace (the service's rule): no separate right to delete memberships."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(WorkspaceMember._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Workspace) -> None:
        workspace_delete(actor=operator_actor(request), workspace_id=obj.pk)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        for workspace in queryset:
            workspace_delete(actor=operator_actor(request), workspace_id=workspace.pk)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not WorkspaceMember:
            super().save_formset(request, form, formset, change)
            return
        workspace, actor = form.instance, operator_actor(request)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # for the admin log
        # Additions and promotions first, removals and demotions last: an owner exists at every step.
        for member_form in sorted(formset.forms, key=lambda f: f.cleaned_data.get("role") != MemberRole.OWNER):
            data = member_form.cleaned_data
            if not data:
                continue
            original = member_form.instance if member_form.instance.pk else None
            if original is None and not data.get("DELETE"):
                workspace_member_add(
                    actor=actor, workspace_id=workspace.pk, agent_id=data["agent"].id, role=data["role"]
                )
            elif original is not None and not data.get("DELETE") and "role" in member_form.changed_data:
                workspace_member_set_role(
                    actor=actor, workspace_id=workspace.pk, agent_id=original.agent_id, role=data["role"]
                )
        for member_form in formset.forms:
            data = member_form.cleaned_data
            if data and data.get("DELETE") and member_form.instance.pk:
                workspace_member_remove(actor=actor, workspace_id=workspace.pk, agent_id=member_form.instance.agent_id)


@admin.register(WorkspaceMember)
class WorkspaceMemberAdmin(ModelAdmin):
    """Overview of memberships; they are changed on their workspace's page (through the services)."""

    list_display = ("agent", "workspace", "role", "created_at")
    list_filter = ("role", "workspace__visibility")
    search_fields = ("agent__name", "workspace__name")
    list_select_related = ("agent", "workspace")
    autocomplete_fields = ("agent", "workspace")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
