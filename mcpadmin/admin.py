"""Third-party admins in the admin's theme: Django's User and Group, django-axes' lockouts (the same admins, on
unfold's bases)."""

from __future__ import annotations

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from mcpadmin.adminkit import ModelAdmin

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    pass


def _in_the_theme(model: type) -> None:
    """django-axes' admins (login failures and lockouts) on unfold's base, keeping everything they define."""
    original = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    admin.site.register(model, type(original.__name__, (original, ModelAdmin), {"__module__": __name__}))


for _axes_model in (AccessAttempt, AccessLog, AccessFailureLog):
    _in_the_theme(_axes_model)
