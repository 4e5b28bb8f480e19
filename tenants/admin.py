"""Operator admin of tenants (with their configuration inline) and workspaces.

Saving calls `tenants.services`; the JSON members are checked by the same
validator as the API, and their errors land on the field they concern.
Service tokens are write-only here too: set one by provider name, or tick
providers to delete; only names, last four characters and dates are shown.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join

from mcpadmin.adminkit import ModelAdmin, StackedInline, each_through_service, human_time
from mcpadmin.core.errors import DomainError
from tenants.models import Tenant, TenantConfig
from tenants.selectors import service_tokens_public
from tenants.services import (
    service_token_delete,
    service_token_set,
    tenant_config_update,
    tenant_create,
    tenant_delete,
    tenant_deletion_plan,
    tenant_update,
    validate_config,
)

CONFIG_FIELDS = ("rate_limit_config", "allowed_origins", "features")


class TenantConfigForm(forms.ModelForm):
    set_token_provider = forms.CharField(required=False, label="Set service token: provider", max_length=63)
    set_token_value = forms.CharField(
        required=False, label="token", widget=forms.PasswordInput(render_value=False), strip=False
    )
    delete_tokens = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Delete service tokens"
    )

    class Meta:
        model = TenantConfig
        fields = CONFIG_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        providers = sorted((self.instance.service_tokens or {}).keys()) if self.instance.pk else []
        self.fields["delete_tokens"].choices = [(p, p) for p in providers]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        values = {name: data[name] for name in CONFIG_FIELDS if name in data and data[name] is not None}
        try:
            validate_config(**values)
        except DomainError as error:
            for path, problems in error.details.items():
                field = path.split(".")[0].split("[")[0]
                self.add_error(field if field in self.fields else None, f"{path}: {'; '.join(problems)}")
        if bool(data.get("set_token_provider")) != bool(data.get("set_token_value")):
            self.add_error("set_token_value", "Give both a provider and a token to set a service token.")
        return data


class TenantConfigInline(StackedInline):
    model = TenantConfig
    form = TenantConfigForm
    can_delete = False
    min_num = 1
    max_num = 1
    fields = (*CONFIG_FIELDS, "service_tokens_shown", "set_token_provider", "set_token_value", "delete_tokens")
    readonly_fields = ("service_tokens_shown",)

    @admin.display(description="service tokens")
    def service_tokens_shown(self, obj: TenantConfig) -> str:
        tokens = service_tokens_public(obj) if obj.pk else []
        return (
            format_html_join(
                ", ",
                "{} (…{}, {})",
                ((t["provider"], t["last4"] or "····", human_time(t["updated_at"])) for t in tokens),
            )
            or "-"
        )


@admin.register(Tenant)
class TenantAdmin(ModelAdmin):
    list_display = ("name", "id", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "=id")
    fields = ("name", "is_active", "id", "created_at", "updated_at")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [TenantConfigInline]
    actions = ["offboard_selected"]

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        if change:
            tenant_update(tenant=obj, name=obj.name, is_active=obj.is_active)
            return
        created = tenant_create(name=obj.name, is_active=obj.is_active)
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not TenantConfig:
            super().save_formset(request, form, formset, change)
            return
        tenant = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # for the admin log
        for config_form in formset.forms:
            data = config_form.cleaned_data
            tenant_config_update(tenant=tenant, **{name: data[name] for name in CONFIG_FIELDS if name in data})
            if data.get("set_token_provider"):
                service_token_set(tenant=tenant, provider=data["set_token_provider"], token=data["set_token_value"])
            for provider in data.get("delete_tokens") or []:
                service_token_delete(tenant=tenant, provider=provider)

    # Deleting a tenant is offboarding (`tenant_delete`): Django's own delete would need a delete permission on
    # every model the cascade reaches and misses rows with no foreign key. Both doors lead to one confirmation page.

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete selected tenants (offboard: everything of theirs goes)", permissions=["delete"])
    def offboard_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            return self._offboard_page(request, list(queryset))
        each_through_service(
            self,
            request,
            queryset,
            lambda tenant: tenant_delete(tenant_id=tenant.pk),
            label=str,
            done=lambda count: f"{count} tenant(s) deleted, with everything of theirs.",
            refused="Not deleted",
        )
        return None

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        tenant = self.get_object(request, object_id)
        if tenant is None or not self.has_delete_permission(request, tenant):
            return super().delete_view(request, object_id, extra_context)
        return self._offboard_page(request, [tenant])

    def _offboard_page(self, request: HttpRequest, tenants: list[Tenant]) -> HttpResponse:
        plans = []
        for tenant in tenants:
            rows = tenant_deletion_plan(tenant_id=tenant.pk)
            plans.append({"tenant": tenant, "rows": list(rows.items()), "total": sum(rows.values())})
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete tenants: everything listed goes",
            "opts": self.opts,
            "plans": plans,
            "action_url": reverse("admin:tenants_tenant_changelist"),
        }
        return TemplateResponse(request, "admin/tenants/tenant/offboard.html", context)


@admin.register(TenantConfig)
class TenantConfigAdmin(ModelAdmin):
    """Read-only overview; configuration is edited on its tenant's page."""

    list_display = ("tenant", "origins", "updated_at")
    search_fields = ("tenant__name",)
    fields = ("tenant", *CONFIG_FIELDS, "updated_at")
    readonly_fields = fields
    list_select_related = ("tenant",)

    @admin.display(description="allowed origins")
    def origins(self, obj: TenantConfig) -> str:
        return ", ".join(obj.allowed_origins or []) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
