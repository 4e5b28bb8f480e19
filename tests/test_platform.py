"""The platform's shell: health, JSON errors, the admin for every model, the operator login, the API docs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from tests.sample_data import populate

pytestmark = pytest.mark.django_db


def test_health_answers_without_a_key():
    response = APIClient().get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_an_unknown_api_url_is_a_json_404():
    response = APIClient().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}


def test_a_wrong_method_is_a_json_405():
    response = APIClient().delete("/api/v1/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_schema_and_offline_swagger_ui():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"drf_spectacular_sidecar/swagger-ui-dist" in docs.content, "Swagger UI is served locally"


def test_ensure_operator_creates_one_login_once_and_prints_its_password_once(client, monkeypatch):
    monkeypatch.delenv("MCPADMIN_ADMIN_PASSWORD", raising=False)
    out = StringIO()
    call_command("ensure_operator", stdout=out)
    text = out.getvalue()
    password = text.split("password: ")[1].split()[0]
    assert User.objects.filter(is_superuser=True).count() == 1

    again = StringIO()
    call_command("ensure_operator", stdout=again)
    assert password not in again.getvalue()
    assert "nothing to do" in again.getvalue()
    assert User.objects.filter(is_superuser=True).count() == 1

    # Through the login form, as an operator logs in (django-axes needs the request to authenticate)
    logged_in = client.post("/admin/login/", {"username": "admin", "password": password, "next": "/admin/"})
    assert logged_in.status_code == 302, logged_in.content.decode()[:500]
    assert client.get("/admin/").status_code == 200


def test_every_model_has_a_working_admin_changelist_and_change_page(admin_client):
    populate()
    registered = {model._meta.label for model in admin.site._registry}
    from django.apps import apps

    platform_models = {
        m._meta.label for m in apps.get_models() if m._meta.app_label in {"tenants", "apikeys", "tasks", "search"}
    }
    assert platform_models <= registered

    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = admin_client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code == 200, model
        obj = model_admin.get_queryset(changelist.wsgi_request).first()
        if obj is not None:
            change = admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
            assert change.status_code == 200, model


def test_the_admin_never_renders_a_key_hash_or_service_token(admin_client):
    from apikeys.models import ApiKey
    from tenants.models import TenantConfig

    populate()
    key = ApiKey.objects.first()
    config = TenantConfig.objects.first()
    config.service_tokens = {"github": {"ciphertext": "SECRET-CIPHERTEXT"}}
    config.save()
    pages = [
        admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content,
        admin_client.get(reverse("admin:apikeys_apikey_changelist")).content,
        admin_client.get(reverse("admin:tenants_tenant_change", args=[config.tenant_id])).content,
        admin_client.get(reverse("admin:tenants_tenantconfig_change", args=[config.pk])).content,
    ]
    for page in pages:
        assert key.key_hash.encode() not in page
        assert b"SECRET-CIPHERTEXT" not in page
