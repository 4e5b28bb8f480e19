"""Production settings: the one switch (MCPADMIN_HTTPS) makes `check --deploy` clean; repeated failed operator logins
are locked out (django-axes), visibly to the other operators."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from tenants.crypto import generate_key

ROOT = Path(__file__).resolve().parents[2]
#: The docs' production configuration (section "Production"), less the database (check --deploy needs none).
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Qe-2vL9pK4mZ8rT1wY6uN3sB5cD0fG-hJ7kL2qW9eR4tY8uI1oP6aS3dF5gH0jK",
    "ALLOWED_HOSTS": "admin.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://admin.example.com",
    "MCPADMIN_HTTPS": "true",
    "MCPADMIN_TRUSTED_PROXIES": "1",
}


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION, "SERVICE_TOKEN_KEYS": generate_key(), **overrides}
    env = {name: value for name, value in env.items() if value != ""}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_in_the_production_configuration():
    result = check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_switch_check_deploy_names_what_is_missing():
    result = check_deploy(MCPADMIN_HTTPS="")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


@pytest.mark.django_db
@override_settings(
    SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"), SECURE_HSTS_SECONDS=3600
)
def test_plain_http_is_redirected_except_the_health_check_of_probes():
    client = Client()
    plain = client.get("/admin/login/")
    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    assert client.get("/api/v1/health").status_code == 200, "probes speak plain HTTP"
    proxied = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"].startswith("max-age=3600")


# --- Locked out after repeated failed logins -----------------------------------------------------------------


def login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("night-operator", password="correct horse battery staple")


def test_repeated_failed_logins_lock_the_login_out_and_other_operators_see_it(settings, operator, admin_client):
    limit = settings.AXES_FAILURE_LIMIT
    client = Client()
    for _ in range(limit - 1):
        assert login(client, operator.username, "wrong").status_code == 200, "a failure shows the form again"
    assert login(client, operator.username, "wrong").status_code == 429, "the limit reached: locked out"
    locked = login(client, operator.username, "correct horse battery staple")
    assert locked.status_code == 429, "even the right password, while locked out"
    assert "_auth_user_id" not in client.session

    elsewhere = login(Client(), operator.username, "correct horse battery staple", address="10.0.0.2")
    assert elsewhere.status_code == 429, "the username is locked too, from any address"

    attempts = admin_client.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert operator.username in attempts
    assert "10.0.0.1" in attempts


def test_a_lifted_lockout_lets_the_operator_in(operator, admin_client):
    client = Client()
    for _ in range(5):
        login(client, operator.username, "wrong")
    assert AccessAttempt.objects.filter(username=operator.username).exists()
    admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "post": "yes",
         "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True))},
    )  # fmt: skip
    assert not AccessAttempt.objects.exists()
    assert login(client, operator.username, "correct horse battery staple").status_code == 302


@override_settings(MCPADMIN_TRUSTED_PROXIES=1)
def test_a_forged_forwarded_address_is_no_server_error(operator):
    client = Client()
    failed = client.post(reverse("admin:login"), {"username": operator.username, "password": "wrong"},
                         HTTP_X_FORWARDED_FOR="not-an-address", REMOTE_ADDR="10.0.0.9")  # fmt: skip
    assert failed.status_code == 200
    assert AccessAttempt.objects.get(username=operator.username).ip_address == "10.0.0.9"
