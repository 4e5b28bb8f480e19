"""`manage.py delete_tenant ID [--confirm]`: offboards a tenant (`tenants.services.tenant_delete`).

Without `--confirm` it prints what would go, rows per table, and exits 1
having deleted nothing; with it, deletes in one transaction and prints the
same counts.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import CommandError, CommandParser

from mcpadmin.core.errors import DomainError
from mcpadmin.management.base import AuditedCommand
from tenants.services import tenant_delete, tenant_deletion_plan


class Command(AuditedCommand):
    help = "Delete a tenant and everything of it (prints what goes; deletes only with --confirm)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", help="the tenant's id")
        parser.add_argument("--confirm", action="store_true", help="delete (without it: only print what would go)")

    def handle(self, *args: Any, tenant_id: str, confirm: bool, **options: Any) -> None:
        try:
            tenant_uuid = uuid.UUID(tenant_id)
        except ValueError as error:
            raise CommandError(f"{tenant_id!r} is not a tenant id (a UUID).") from error
        try:
            rows = tenant_delete(tenant_id=tenant_uuid) if confirm else tenant_deletion_plan(tenant_id=tenant_uuid)
        except DomainError as error:
            raise CommandError(error.message) from error
        width = max(len(table) for table in rows)
        for table, count in rows.items():
            self.stdout.write(f"{table.ljust(width)}  {count}")
        total = sum(rows.values())
        if not confirm:
            raise CommandError(f"{total} row(s) would be deleted; nothing was. Run again with --confirm to delete.")
        self.stdout.write(f"Deleted tenant {tenant_uuid}: {total} row(s).")
