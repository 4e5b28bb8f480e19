"""`manage.py create_tenant NAME`: prints the new tenant's id (and nothing else) on stdout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from mcpadmin.core.errors import DomainError
from mcpadmin.management.base import AuditedCommand
from tenants.services import tenant_create


class Command(AuditedCommand):
    help = "Create a tenant (with its configuration) and print its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--inactive", action="store_true", help="create it switched off")

    def handle(self, *args: Any, name: str, inactive: bool, **options: Any) -> None:
        try:
            tenant = tenant_create(name=name, is_active=not inactive)
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(str(tenant.id))
