"""Plain functions that build test data with sensible defaults; keyword arguments override."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone

from agents.models import Agent
from apikeys.models import ApiKey
from mcpadmin.core.actor import Actor
from tasks.models import Task
from tenants.models import Tenant, TenantConfig
from workflows.models import Workflow
from workspaces.models import Workspace

#: Who tests that call services directly act as: an operator, allowed everything.
OPERATOR = Actor.for_operator("tester")

_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}-{secrets.token_hex(3)}"


def tenant(**fields: Any) -> Tenant:
    fields.setdefault("name", unique("tenant"))
    obj = Tenant.objects.create(**fields)
    TenantConfig.objects.create(tenant=obj)
    return obj


def agent(tenant: Tenant, **fields: Any) -> Agent:
    fields.setdefault("name", unique("agent"))
    return Agent.objects.create(tenant=tenant, **fields)


def api_key_row(tenant: Tenant, **fields: Any) -> ApiKey:
    """A key row without a usable secret (for schema-level tests; issue keys through the service)."""
    prefix = secrets.token_hex(6)
    fields.setdefault("name", unique("key"))
    fields.setdefault("key_prefix", prefix)
    fields.setdefault("key_hash", hashlib.sha256(prefix.encode()).hexdigest())
    return ApiKey.objects.create(tenant=tenant, **fields)


def task(tenant: Tenant, **fields: Any) -> Task:
    fields.setdefault("title", unique("task"))
    return Task.objects.create(tenant=tenant, **fields)


def workspace(tenant: Tenant, *, owner: Agent | None = None, **fields: Any) -> Workspace:
    """A workspace with its first owner (the database insists on one at commit)."""
    from workspaces.services import workspace_create

    fields.setdefault("name", unique("workspace"))
    return workspace_create(
        actor=Actor.for_command("factories"), tenant=tenant, owner_agent_id=(owner or agent(tenant)).pk, **fields
    )


def workflow(tenant: Tenant, **fields: Any) -> Workflow:
    fields.setdefault("name", unique("workflow"))
    fields.setdefault("workflow_type", "sequential")
    return Workflow.objects.create(tenant=tenant, **fields)


def in_an_hour() -> Any:
    return timezone.now() + timedelta(hours=1)


def issued_key(tenant: Tenant, key_type: str = "admin", **fields: Any) -> Any:
    """A real key, issued by the service: `.raw_key` authenticates."""
    from apikeys.services import apikey_issue

    fields.setdefault("name", unique(f"{key_type}-key"))
    if key_type == "agent" and "agent" not in fields:
        fields["agent"] = agent(tenant)
    return apikey_issue(tenant=tenant, key_type=key_type, **fields)


def client_for(raw_key: str, *, header: str = "bearer") -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    else:
        client.credentials(HTTP_X_API_KEY=raw_key)
    return client


def service_tenant(**fields: Any) -> Tenant:
    """A tenant made the way operators make them (with its configuration)."""
    from tenants.services import tenant_create

    fields.setdefault("name", unique("tenant"))
    return tenant_create(**fields)
