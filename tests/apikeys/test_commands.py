"""create_tenant and issue_api_key print exactly what scripts need."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apikeys.services import apikey_authenticate
from tenants.models import Tenant
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_tenant_prints_its_id_and_refuses_duplicates():
    tenant_id = run("create_tenant", "Globex")
    assert str(Tenant.objects.get(name="Globex").id) == tenant_id
    with pytest.raises(CommandError):
        run("create_tenant", "Globex")


def test_issue_api_key_prints_only_the_raw_key():
    tenant = factories.service_tenant()
    agent = factories.agent(tenant)
    raw = run(
        "issue_api_key", "--tenant", tenant.name, "--type", "agent", "--name", "bot",
        "--allowed-services", "tasks,search", "--expires-in", "30d", "--agent", agent.name,
    )  # fmt: skip
    assert "\n" not in raw
    key = apikey_authenticate(raw)
    assert key.key_type == "agent"
    assert key.agent_id == agent.id
    assert key.allowed_services == ["tasks", "search"]
    assert abs((key.expires_at - key.created_at).total_seconds() - 30 * 86400) < 60
    assert apikey_authenticate(run("issue_api_key", "--tenant", str(tenant.id), "--type", "admin", "--name", "a"))


@pytest.mark.parametrize(
    "args",
    [
        ["--tenant", "nope", "--type", "admin", "--name", "x"],
        ["--tenant", "{tenant}", "--type", "agent", "--name", "x"],
        ["--tenant", "{tenant}", "--type", "user", "--name", "x", "--expires-in", "forever"],
        ["--tenant", "{tenant}", "--type", "user", "--name", "x", "--allowed-services", "billing"],
        ["--tenant", "{tenant}", "--type", "user", "--name", "x", "--agent", "nobody"],
    ],
)
def test_issue_api_key_errors_are_command_errors(args):
    tenant = factories.service_tenant()
    args = [arg.replace("{tenant}", tenant.name) for arg in args]
    with pytest.raises(CommandError):
        run("issue_api_key", *args)
