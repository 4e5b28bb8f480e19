"""The base of every management command of the project: its writes are audited as the command's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audit.context import command_context


class AuditedCommand(BaseCommand):
    """A `BaseCommand` whose run (from `manage.py` or `call_command`) is one audit context named after the
    command, so the workers (`dispatch_workflow_tasks`, `escalate_tasks`) and operators' commands are told apart
    from writers without a context. `tests/audit/test_commands.py` checks every command of the project uses it."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        with command_context(self.__module__.rsplit(".", 1)[-1]):
            return super().execute(*args, **options)
