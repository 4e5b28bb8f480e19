"""Make sure an operator (superuser) login exists, so `make run` needs no set-up."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandParser
from django.db import connection, transaction

from mcpadmin.management.base import AuditedCommand


class Command(AuditedCommand):
    help = (
        "Create an operator (superuser) if none exists. The password is MCPADMIN_ADMIN_PASSWORD, "
        "or generated and printed once. Does nothing when an operator exists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=None, help="default: MCPADMIN_ADMIN_USER or 'admin'")

    def handle(self, *args: Any, username: str | None, **options: Any) -> None:
        import os

        user_model = get_user_model()
        with transaction.atomic():
            # Serialises concurrent first runs: only one of them creates the operator.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mcpadmin.ensure_operator'))")
            if user_model.objects.filter(is_superuser=True, is_active=True).exists():
                self.stdout.write("An operator login exists; nothing to do.")
                return
            username = username or os.environ.get("MCPADMIN_ADMIN_USER", "admin")
            password = os.environ.get("MCPADMIN_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
            user, _ = user_model.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        if os.environ.get("MCPADMIN_ADMIN_PASSWORD"):
            self.stdout.write(f"Created operator '{username}' with the password from MCPADMIN_ADMIN_PASSWORD.")
            return
        self.stdout.write(
            self.style.WARNING(
                f"Created operator login\n  username: {username}\n  password: {password}\n"
                "This password is shown only now: write it down, or change it in the admin."
            )
        )
