"""`manage.py issue_api_key --tenant T --type TYPE --name NAME ...`: prints only the raw key on stdout."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from agents.models import Agent
from apikeys.services import apikey_issue
from mcpadmin.core.access import KeyType
from mcpadmin.core.errors import DomainError
from mcpadmin.management.base import AuditedCommand
from tenants.models import Tenant

_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `3600s`."""
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise CommandError(f"--expires-in: {text!r} is not a duration like 30d, 12h, 90m, 2w or 3600s")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def find_tenant(ref: str) -> Tenant:
    try:
        return Tenant.objects.get(id=uuid.UUID(ref))
    except (ValueError, Tenant.DoesNotExist):
        pass
    try:
        return Tenant.objects.get(name=ref)
    except Tenant.DoesNotExist as error:
        raise CommandError(f"no tenant with id or name {ref!r}") from error


class Command(AuditedCommand):
    help = "Issue an operator's (root) API key and print the raw key, once, on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant id or name")
        parser.add_argument("--type", required=True, choices=KeyType.values, dest="key_type")
        parser.add_argument("--name", required=True)
        parser.add_argument("--allowed-services", default="", help="comma-separated, e.g. tasks,search")
        parser.add_argument("--expires-in", default=None, help="e.g. 30d, 12h")
        parser.add_argument("--agent", default=None, help="agent id or name (agent keys)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        agent = None
        if options["agent"]:
            agents = Agent.objects.filter(tenant=tenant)
            try:
                agent = agents.get(id=uuid.UUID(options["agent"]))
            except (ValueError, Agent.DoesNotExist):
                agent = agents.filter(name=options["agent"]).first()
            if agent is None:
                raise CommandError(f"tenant {tenant.name} has no agent {options['agent']!r}")
        services = [s.strip() for s in options["allowed_services"].split(",") if s.strip()]
        expires_at = timezone.now() + parse_duration(options["expires_in"]) if options["expires_in"] else None
        try:
            issued = apikey_issue(
                tenant=tenant,
                name=options["name"],
                key_type=options["key_type"],
                allowed_services=services,
                expires_at=expires_at,
                agent=agent,
            )
        except DomainError as error:
            raise CommandError(f"{error.message} {error.details or ''}".strip()) from error
        self.stdout.write(issued.raw_key)
