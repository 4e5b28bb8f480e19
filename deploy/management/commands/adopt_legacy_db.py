"""`manage.py adopt_legacy_db`: bring a golang-migrate database to the current schema, hand it to Django.

Dry run by default (prints the plan, changes nothing); `--apply` runs the plan
in one transaction. Exit status: 0 done, nothing to do, or a dry run whose
plan can run; 1 the plan cannot run (values it cannot map...) or --apply
failed and was rolled back; 2 it could not check (no scratch database, not a
legacy database).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from deploy import legacy
from deploy.adoption import (
    AdoptionFailed,
    Plan,
    is_legacy,
    legacy_db_adopt,
    legacy_db_plan,
    project_migrations_recorded,
    render_plan,
)
from deploy.catalog import Catalog, read_catalog
from deploy.gap import expected_catalog, schema_gap_between
from deploy.report import summary
from deploy.scratch import migrated_scratch_database
from mcpadmin.core.errors import DomainError
from mcpadmin.progress import Progress
from search.services import validated_collection_name

EXIT_CANNOT_ADOPT = 1
EXIT_CANNOT_CHECK = 2


class Command(BaseCommand):
    help = (
        "Adopt a legacy (golang-migrate) database: dry run by default, --apply to run the plan in one "
        "transaction. Needs CREATEDB for the scratch database, and ownership of schema mcp's objects."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias to adopt (default: default)")
        parser.add_argument("--apply", action="store_true", help="run the plan (default: print it, change nothing)")
        parser.add_argument(
            "--map-status",
            action="append",
            default=[],
            metavar="OLD=NEW",
            help=f"map a legacy task status to a task_status label (defaults: {_pairs(legacy.DEFAULT_STATUS_MAP)})",
        )
        parser.add_argument(
            "--map-priority",
            action="append",
            default=[],
            metavar="OLD=NEW",
            help=f"map a legacy priority to a task_priority label (defaults: {_pairs(legacy.DEFAULT_PRIORITY_MAP)})",
        )
        parser.add_argument(
            "--temporary-key-hours",
            type=int,
            default=legacy.TEMPORARY_KEY_HOURS,
            help="a legacy temporary key without expires_at expires this many hours after adoption",
        )
        parser.add_argument(
            "--legacy-collection",
            default=legacy.DEFAULT_LEGACY_COLLECTION,
            metavar="NAME",
            help="the collection, in each tenant, of the legacy documents that have none "
            f"(default: {legacy.DEFAULT_LEGACY_COLLECTION})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        try:
            with migrated_scratch_database(alias, purpose="adopt") as scratch:
                expected = expected_catalog(scratch)
                if project_migrations_recorded(alias):
                    self.already_managed(scratch, alias)
                    return
            plan = self.plan(alias, expected, options)
        except CommandError:
            raise
        except Exception as error:  # any failure to look must read "could not check"
            raise CommandError(f"adopt_legacy_db could not check: {error}", returncode=EXIT_CANNOT_CHECK) from error

        self.stdout.write(render_plan(plan), ending="")
        if plan.blockers:
            raise SystemExit(EXIT_CANNOT_ADOPT)
        if not options["apply"]:
            self.stdout.write("Dry run: nothing was changed. Run again with --apply to adopt the database.")
            return
        progress = Progress(self.stdout, len(plan.steps) + 1)
        try:
            legacy_db_adopt(alias=alias, plan=plan, expected=expected, progress=progress)
        except AdoptionFailed as failure:
            progress.close()
            self.stderr.write(
                f"Adoption failed at: {failure.step}\n{failure.error}\n"
                "The transaction was rolled back: the database is exactly as it was."
            )
            raise SystemExit(EXIT_CANNOT_ADOPT) from failure
        progress.close()
        self.stdout.write(
            "Adopted in one transaction: the schema matches the migrations, which are recorded as applied. "
            "`manage.py schema_gap` reports no gap; `manage.py migrate` takes over from here."
        )

    def already_managed(self, scratch: str, alias: str) -> None:
        gap = schema_gap_between(scratch, alias)
        if gap.has_gap:
            raise CommandError(
                f"this database is already managed by Django's migrations and differs from the code ({summary(gap)}): "
                "run `manage.py migrate`, then `manage.py schema_gap`. adopt_legacy_db only adopts databases that "
                "Django has never migrated.",
                returncode=EXIT_CANNOT_CHECK,
            )
        self.stdout.write("Nothing to do: the database is managed by Django's migrations and matches the code.")

    def plan(self, alias: str, expected: Catalog, options: dict[str, Any]) -> Plan:
        if not is_legacy(read_catalog(connections[alias]), expected):
            raise CommandError(
                "nothing to adopt: schema mcp holds none of the platform's tables and no golang-migrate table; "
                "run `manage.py migrate` to create the schema",
                returncode=EXIT_CANNOT_CHECK,
            )
        labels = {name: _enum_labels(expected, name) for name in legacy.ENUM_OPTIONS}
        try:
            status_map = legacy.parse_mapping(options["map_status"], labels[legacy.STATUS_TYPE], "--map-status")
            priority_map = legacy.parse_mapping(options["map_priority"], labels[legacy.PRIORITY_TYPE], "--map-priority")
        except ValueError as error:
            raise CommandError(str(error), returncode=EXIT_CANNOT_CHECK) from error
        try:
            legacy_collection = validated_collection_name(options["legacy_collection"])
        except DomainError as error:
            raise CommandError(f"--legacy-collection: {error.message}", returncode=EXIT_CANNOT_CHECK) from error
        return legacy_db_plan(
            alias=alias,
            expected=expected,
            status_map=status_map,
            priority_map=priority_map,
            temporary_key_hours=options["temporary_key_hours"],
            legacy_collection=legacy_collection,
        )


def _enum_labels(catalog: Catalog, name: str) -> list[str]:
    enum = catalog.get("type", name)
    return enum.attrs.get("enum", []) if enum else []


def _pairs(mapping: dict[str, str]) -> str:
    return ", ".join(f"{old}={new}" for old, new in mapping.items())
