"""Operator admin of API keys: issue (the raw key is shown once), revoke (cascades), rotate.

Every operation calls `apikeys.services`; keys are never deleted, and the
hash is never displayed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import AdminForm
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from agents.models import Agent
from apikeys import keys
from apikeys.models import ApiKey, RateLimitBucket
from apikeys.services import (
    DEFAULT_ROTATION_GRACE,
    MAX_ROTATION_GRACE,
    ROTATION_LINKS,
    IssuedKey,
    apikey_issue,
    apikey_rename,
    apikey_revoke,
    apikey_rotate,
    client_metadata,
    key_state,
)
from mcpadmin.adminkit import operator_actor, refusal_text
from mcpadmin.core.access import SERVICES, KeyType
from mcpadmin.core.errors import DomainError
from tenants.models import Tenant


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(is_active=True, revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class HasParentFilter(admin.SimpleListFilter):
    title = "hierarchy"
    parameter_name = "hierarchy"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("root", "root keys"), ("child", "child keys")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "root":
            return queryset.filter(parent_key__isnull=True)
        if self.value() == "child":
            return queryset.filter(parent_key__isnull=False)
        return queryset


class IssueKeyForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(is_active=True))
    name = forms.CharField(max_length=255)
    key_type = forms.ChoiceField(choices=KeyType.choices)
    parent_key = forms.ModelChoiceField(
        queryset=ApiKey.objects.filter(revoked_at__isnull=True).select_related("tenant"),
        required=False,
        help_text="Optional: issue as a child of this key (the hierarchy rules apply). Empty: a root key.",
    )
    allowed_services = forms.MultipleChoiceField(
        choices=[(s, s) for s in SERVICES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: no restriction beyond the key type.",
    )
    expires_in_days = forms.IntegerField(min_value=1, max_value=3650, required=False, help_text="Empty: never.")
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.filter(status="active").select_related("tenant"),
        required=False,
        help_text="Required for agent keys: the agent the key acts as (of the same tenant).",
    )


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        min_value=0,
        max_value=int(MAX_ROTATION_GRACE.total_seconds() // 3600),
        initial=int(DEFAULT_ROTATION_GRACE.total_seconds() // 3600),
        help_text="How long the old key keeps working; 0 stops it now.",
    )


class ChildKeyInline(admin.TabularInline):
    model = ApiKey
    fk_name = "parent_key"
    verbose_name = "child key"
    verbose_name_plural = "child keys (revoked with this key)"
    fields = ("name", "key_prefix", "key_type", "is_active", "revoked_at", "expires_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _apply_form_error(form: forms.Form, error: DomainError) -> None:
    field_names = {"agent_id": "agent", "expires_at": "expires_in_days", "parent": "parent_key"}
    placed = False
    for name, problems in (error.details or {}).items() if isinstance(error.details, dict) else []:
        field = field_names.get(name, name)
        if field in form.fields:
            form.add_error(field, f"{error.message} ({'; '.join(map(str, problems))})")
            placed = True
    if not placed:
        form.add_error(None, error.message)


class ApiKeyChangeForm(forms.ModelForm):
    """The key's name and metadata; rotation links shown as stored are kept, changed ones are refused."""

    class Meta:
        model = ApiKey
        fields = ("name", "metadata")

    def clean_metadata(self) -> Any:
        metadata = self.cleaned_data.get("metadata")
        if not isinstance(metadata, dict):
            return metadata
        stored = self.instance.metadata or {}
        metadata = {k: v for k, v in metadata.items() if not (k in ROTATION_LINKS and stored.get(k) == v)}
        try:
            client_metadata(metadata)
        except DomainError as error:
            raise forms.ValidationError(refusal_text(error)) from error
        return metadata


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyChangeForm
    list_display = (
        "name", "shown_key", "key_type", "tenant", "parent_link", "state", "expires_at", "last_used_at", "created_at",
    )  # fmt: skip
    list_filter = (StateFilter, "key_type", HasParentFilter, "tenant")
    search_fields = ("name", "=key_prefix", "tenant__name")
    list_select_related = ("tenant", "parent_key")
    fields = (
        "name", "shown_key", "key_type", "tenant", "parent_link", "agent", "allowed_services", "state",
        "expires_at", "revoked_at", "last_used_at", "metadata", "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = tuple(f for f in fields if f not in ("name", "metadata"))
    inlines = [ChildKeyInline]
    actions = ["revoke_selected"]
    change_form_template = "admin/apikeys/apikey/change_form.html"

    @admin.display(description="key")
    def shown_key(self, obj: ApiKey) -> str:
        return keys.display(obj.key_type, obj.key_prefix)

    @admin.display(description="parent", ordering="parent_key__name")
    def parent_link(self, obj: ApiKey) -> str:
        if obj.parent_key_id is None:
            return "-"
        url = reverse("admin:apikeys_apikey_change", args=[obj.parent_key_id])
        return format_html('<a href="{}">{}</a>', url, obj.parent_key)

    @admin.display(description="state")
    def state(self, obj: ApiKey) -> str:

        return key_state(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        apikey_rename(actor=operator_actor(request), key=obj, name=obj.name, metadata=obj.metadata)

    @admin.action(description="Revoke selected keys (and all their descendants)", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        actor = operator_actor(request)
        total = sum(apikey_revoke(actor=actor, key=key) for key in queryset)
        self.message_user(request, f"Revoked {total} key(s), descendants included.", messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        own = [
            path("<uuid:key_id>/revoke/", self.admin_site.admin_view(self.revoke_view), name="apikeys_apikey_revoke"),
            path("<uuid:key_id>/rotate/", self.admin_site.admin_view(self.rotate_view), name="apikeys_apikey_rotate"),
        ]
        return own + super().get_urls()

    def _issued_page(self, request: HttpRequest, issued: IssuedKey, title: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "issued": issued,
            "display": keys.display(issued.key.key_type, issued.key.key_prefix),
        }
        response = TemplateResponse(request, "admin/apikeys/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Issuing replaces "add": the raw key is rendered in this response, never stored or shown again."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = IssueKeyForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                issued = apikey_issue(
                    tenant=data["tenant"],
                    name=data["name"],
                    key_type=data["key_type"],
                    parent=data["parent_key"],
                    allowed_services=data["allowed_services"] or None,
                    expires_at=timezone.now() + timedelta(days=data["expires_in_days"])
                    if data["expires_in_days"]
                    else None,
                    agent=data["agent"],
                )
            except DomainError as error:
                _apply_form_error(form, error)
            else:
                return self._issued_page(request, issued, "API key issued")
        fieldsets = [(None, {"fields": list(form.fields)})]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Issue an API key",
            "adminform": AdminForm(form, fieldsets, {}),
            "form": form,
            "errors": form.errors,
        }
        return TemplateResponse(request, "admin/apikeys/apikey/issue.html", context)

    def revoke_view(self, request: HttpRequest, key_id: Any) -> HttpResponse:
        key = get_object_or_404(ApiKey, pk=key_id)
        if not self.has_change_permission(request, key):
            return HttpResponseRedirect(reverse("admin:index"))
        change_url = reverse("admin:apikeys_apikey_change", args=[key.pk])
        if request.method == "POST":
            count = apikey_revoke(actor=operator_actor(request), key=key)
            self.message_user(request, f"Revoked {count} key(s), descendants included.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Revoke {key}?",
            "key": key,
            "descendants": key.child_keys.count(),
        }
        return TemplateResponse(request, "admin/apikeys/apikey/revoke.html", context)

    def rotate_view(self, request: HttpRequest, key_id: Any) -> HttpResponse:
        key = get_object_or_404(ApiKey, pk=key_id)
        if not self.has_change_permission(request, key):
            return HttpResponseRedirect(reverse("admin:index"))
        form = RotateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                issued = apikey_rotate(
                    actor=operator_actor(request),
                    key=key,
                    grace_period=timedelta(hours=form.cleaned_data["grace_hours"]),
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                return self._issued_page(request, issued, "API key rotated")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Rotate {key}",
            "key": key,
            "form": form,
        }
        return TemplateResponse(request, "admin/apikeys/apikey/rotate.html", context)


@admin.register(RateLimitBucket)
class RateLimitBucketAdmin(admin.ModelAdmin):
    """Rate-limit state, read-only; deleting a bucket resets that key's (or client's) counters."""

    list_display = ("bucket", "minute_hits", "hour_hits", "day_hits", "tat", "updated_at")
    search_fields = ("bucket",)
    readonly_fields = ("bucket", "minute_start", "minute_hits", "hour_start", "hour_hits", "day_start", "day_hits",
                       "tat", "updated_at")  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
