"""`manage.py schema_gap`: does the live database hold exactly what the code expects?

Exit status: 0 no gap, 1 gap, 2 could not check. A deployment gates on it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from deploy.ddl import create_statements, preamble, script
from deploy.gap import schema_gap_find
from deploy.report import render_json, render_text

EXIT_GAP = 1
EXIT_CANNOT_CHECK = 2


class Command(BaseCommand):
    help = (
        "Compare schema mcp of the database with the schema the project's migrations build in a scratch "
        "database (needs CREATEDB). Exit 0: no gap, 1: gap, 2: could not check."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias to check (default: default)")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--sql",
            action="store_true",
            help="print the DDL that creates the missing objects (for review), instead of the text report",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        try:
            gap = schema_gap_find(alias)
        except Exception as error:  # any failure must read "could not check", never "gap"
            raise CommandError(f"schema_gap could not check: {error}", returncode=EXIT_CANNOT_CHECK) from error
        database = connections[alias].settings_dict["NAME"]
        statements = [*preamble(gap.expected), *create_statements(gap.missing, gap.expected)] if gap.missing else []
        if options["format"] == "json":
            report = render_json(gap, database)
            if options["sql"]:
                report["sql"] = statements
            self.stdout.write(json.dumps(report, indent=2, default=str))
        elif options["sql"]:
            self.stdout.write(script(statements) if statements else "-- nothing is missing\n", ending="")
        else:
            self.stdout.write(render_text(gap, database), ending="")
        if gap.has_gap:
            raise SystemExit(EXIT_GAP)
