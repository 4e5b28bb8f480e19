"""Generic API cases of the audit trail: see tests/api_cases.py."""

from __future__ import annotations

from typing import Any

from audit.models import AuditEvent
from tests import factories
from tests.api_cases import Call, Case, Ctx, api_tests, every


def event_of_a_new_agent(ctx: Ctx) -> Any:
    return AuditEvent.objects.get(object_type="agents", object_id=str(factories.agent(ctx.tenant).pk))


ADMIN_ONLY = every(403, admin=200)

AUDIT_EVENTS = Case(
    name="audit-events",
    sample=event_of_a_new_agent,
    calls=(
        Call("GET", "/api/v1/audit-events", ADMIN_ONLY, max_queries=6),
        Call("GET", "/api/v1/audit-events/{pk}", ADMIN_ONLY),
    ),
)

globals().update(api_tests(AUDIT_EVENTS))
