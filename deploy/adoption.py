"""Adoption of a legacy (golang-migrate) database: bring it to the expected schema and hand it to Django.

The plan is computed, not written down: what is missing, extra or different
comes from comparing the live catalog with a scratch database built by the
project's migrations (deploy.gap.expected_catalog), and every CREATE comes
from that database's own definitions. Only what the Go platform's values
meant is special-cased (deploy.legacy).

The whole plan runs in one transaction (PostgreSQL's DDL is transactional)
and is checked with the gap analysis before COMMIT: it either all happens,
or nothing does.

Policy for what the legacy database has on top of the expected schema:
- extra columns (on the platform's tables), extra tables, functions, types,
  sequences and views are kept with their data and marked kept
  (catalog.KEEP_MARKER); a kept NOT NULL column without a default becomes
  nullable, since the platform does not write it;
- extra indexes, constraints, triggers and policies on the platform's tables
  are dropped, unless they involve a kept column (then kept and marked):
  they constrain or index the legacy schema, and a legacy CHECK or trigger
  would break the platform's writes. An index or unique/primary-key
  constraint that is exactly one of the expected ones under another name is
  renamed instead. INVALID indexes are always dropped.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from mcpadmin.core.access import KeyType

from . import ddl, legacy
from .catalog import GOLANG_MIGRATE_TABLE, KEEP_MARKER, Catalog, DbObject, read_catalog
from .gap import Difference, SchemaGap, compare, migration_state
from .report import describe_changes


@dataclass
class Step:
    """One part of the plan: SQL statements, or `action` (Django's migrations), with what it does to the data."""

    title: str
    statements: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    action: Callable[[str], None] | None = None


@dataclass
class Plan:
    steps: list[Step]
    #: Why the plan cannot run (values it cannot map, NULLs it cannot fill...): nothing is done while any.
    blockers: list[str]
    notes: list[str]
    #: (table, rows) of the legacy database's tables in schema mcp.
    tables: list[tuple[str, int]]


class AdoptionFailed(Exception):
    """The transaction was rolled back: the database is as it was."""

    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


def project_app_labels() -> set[str]:
    """The project's own apps (their migrations are recorded, not run, by adoption)."""
    base = Path(settings.BASE_DIR).resolve()
    labels = set()
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        if path.is_relative_to(base) and not {"site-packages", "dist-packages"} & set(path.relative_to(base).parts):
            labels.add(app.label)
    return labels


def django_owned_tables() -> set[str]:
    """Tables of the other apps (Django's contrib): their own migrations create them."""
    project = project_app_labels()
    tables = {MigrationRecorder.Migration._meta.db_table}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in project:
            tables.add(model._meta.db_table)
    return tables


def project_migrations_recorded(alias: str) -> bool:
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return False
    project = project_app_labels()
    return any(app in project for app, _ in recorder.applied_migrations())


def is_legacy(live: Catalog, expected: Catalog) -> bool:
    """A database with some of the platform's tables, or golang-migrate's table."""
    owned = django_owned_tables()
    platform_tables = {obj.name for obj in expected.of_kind("table") if obj.name not in owned}
    return live.golang_migrate is not None or any(("table", name) in live.objects for name in platform_tables)


def legacy_db_plan(
    *,
    alias: str,
    expected: Catalog,
    status_map: dict[str, str],
    priority_map: dict[str, str],
    temporary_key_hours: int = legacy.TEMPORARY_KEY_HOURS,
) -> Plan:
    """The plan that adopts the database of `alias`; reads it, changes nothing."""
    value_maps = {
        legacy.STATUS_TYPE: {**legacy.DEFAULT_STATUS_MAP, **status_map},
        legacy.PRIORITY_TYPE: {**legacy.DEFAULT_PRIORITY_MAP, **priority_map},
    }
    return _Planner(alias, expected, value_maps, temporary_key_hours).plan()


def legacy_db_adopt(*, alias: str, plan: Plan, expected: Catalog) -> None:
    """Run `plan` in one transaction; check the result against `expected` before committing.

    Raises AdoptionFailed (after the rollback) when a step fails or a gap remains.
    """
    connection = connections[alias]
    current = "starting the transaction"
    try:
        with transaction.atomic(using=alias):
            for step in plan.steps:
                current = step.title
                with connection.cursor() as cursor:
                    for statement in step.statements:
                        cursor.execute(statement)
                if step.action:
                    step.action(alias)
            current = "checking the result against the expected schema"
            live = read_catalog(connection)
            missing, extra, different, kept = compare(expected, live)
            gap = SchemaGap(
                missing, extra, different, kept, migration_state(connection, live.golang_migrate), expected, live
            )
            if gap.has_gap:
                raise AdoptionFailed(current, "a gap remains:\n" + _gap_lines(gap))
    except AdoptionFailed:
        raise
    except Exception as error:
        raise AdoptionFailed(current, str(error).strip()) from error


def _gap_lines(gap: SchemaGap) -> str:
    lines = [f"  missing {obj.kind} {obj.name}" for obj in gap.reported(gap.missing)]
    lines += [f"  extra {obj.kind} {obj.name}" for obj in gap.reported(gap.extra)]
    lines += [f"  different {d.kind} {d.name}: {describe_changes(d)}" for d in gap.different]
    lines += [f"  {problem}" for problem in gap.migrations.problems]
    return "\n".join(lines)


def render_plan(plan: Plan) -> str:
    lines = []
    if plan.tables:
        lines.append("Legacy tables in the database (rows):")
        lines += [f"  {table}: {rows}" for table, rows in plan.tables]
    for number, step in enumerate(plan.steps, start=1):
        lines.append(f"{number}. {step.title}")
        lines += [f"     - {detail}" for detail in step.details]
        for statement in step.statements:
            first, *rest = statement.splitlines()
            lines.append(f"     {first}{';' if not rest else ''}")
            lines += [f"       {line}" for line in rest[:-1]]
            if rest:
                lines.append(f"       {rest[-1]};")
    if plan.notes:
        lines.append("Notes:")
        lines += [f"  - {note}" for note in plan.notes]
    if plan.blockers:
        lines.append("Cannot adopt, nothing was changed:")
        lines += [f"  - {blocker}" for blocker in plan.blockers]
    return "\n".join(lines) + "\n"


def _search_rebuild(alias: str) -> None:
    from search.services import collection_stats_rebuild, collections_adopt_orphans

    for collection in collections_adopt_orphans(using=alias):
        collection_stats_rebuild(collection=collection, using=alias)


def _django_migrations(*, fake: bool) -> Callable[[str], None]:
    """Run the other apps' migrations (fake=False), or record the remaining ones (the project's) as applied."""

    def run(alias: str) -> None:
        quiet = {"database": alias, "interactive": False, "verbosity": 0, "skip_checks": True}
        if fake:
            call_command("migrate", fake=True, stdout=io.StringIO(), **quiet)
            return
        project = project_app_labels()
        executor = MigrationExecutor(connections[alias])
        for app_label in sorted({app for app, _ in executor.loader.graph.leaf_nodes()} - project):
            call_command("migrate", app_label, stdout=io.StringIO(), **quiet)

    return run


class _Planner:
    """Builds the plan from the expected catalog and the live one (see the module docstring)."""

    def __init__(
        self, alias: str, expected: Catalog, value_maps: dict[str, dict[str, str]], temporary_key_hours: int
    ) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.expected = expected
        self.live = read_catalog(self.connection)
        self.value_maps = value_maps
        self.temporary_key_hours = temporary_key_hours
        self.steps: list[Step] = []
        self.blockers: list[str] = []
        self.notes: list[str] = []
        #: (expected column, live column or None if added): columns to fill and make NOT NULL.
        self.not_null: list[tuple[DbObject, DbObject | None]] = []
        self.statistics: Step | None = None
        owned = django_owned_tables()

        def ours(obj: DbObject) -> bool:
            return obj.table not in owned and not (obj.kind == "table" and obj.name in owned)

        # The one rename: legacy api_keys.type is key_type.
        self.renamed_type = (
            ("column", f"{legacy.API_KEYS_TABLE}.{legacy.LEGACY_TYPE_COLUMN}") in self.live.objects
            and ("column", f"{legacy.API_KEYS_TABLE}.{legacy.KEY_TYPE_COLUMN}") not in self.live.objects
            and ("column", f"{legacy.API_KEYS_TABLE}.{legacy.KEY_TYPE_COLUMN}") in self.expected.objects
        )
        live_objects = {key: obj for key, obj in self.live.objects.items() if ours(obj)}
        if self.renamed_type:
            old = live_objects.pop(("column", f"{legacy.API_KEYS_TABLE}.{legacy.LEGACY_TYPE_COLUMN}"))
            new_name = f"{legacy.API_KEYS_TABLE}.{legacy.KEY_TYPE_COLUMN}"
            live_objects[("column", new_name)] = DbObject("column", new_name, old.attrs, old.table, old.info)
        self.current = live_objects
        self.target = {key: obj for key, obj in self.expected.objects.items() if ours(obj)}

        self.missing = [obj for key, obj in sorted(self.target.items()) if key not in self.current]
        self.different = [(obj, self.current[key]) for key, obj in sorted(self.target.items()) if key in self.current]
        self.different = [(e, a) for e, a in self.different if not self.expected.matches(e, a)]
        self.extra = [
            obj
            for key, obj in sorted(self.current.items())
            if key not in self.target
            and not obj.kept
            and not (obj.kind == "extension" and obj.attrs["schema"] != self.live.schema)
        ]
        self.legacy_tables = sorted(obj.name for obj in self.current.values() if obj.kind == "table")
        self.platform_tables = {name for name in self.legacy_tables if ("table", name) in self.target}
        self.new_tables = {obj.name for obj in self.missing if obj.kind == "table"}
        self.extra_tables = {obj.name for obj in self.extra if obj.kind == "table"}
        self.kept_columns = {
            obj.name for obj in self.extra if obj.kind == "column" and obj.table in self.platform_tables
        }

    # --- helpers -------------------------------------------------------------------------------

    def q(self, name: str) -> str:
        return self.expected.quote(name)

    def table(self, name: str) -> str:
        return self.expected.qualified(name)

    def live_column(self, column: DbObject) -> str:
        """The column's name in the live database before adoption (api_keys.key_type is still `type`)."""
        if self.renamed_type and column.name == f"{legacy.API_KEYS_TABLE}.{legacy.KEY_TYPE_COLUMN}":
            return legacy.LEGACY_TYPE_COLUMN
        return column.short_name

    def rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def count(self, table: str, where: str = "true") -> int:
        return self.rows(f"SELECT count(*) FROM {self.table(table)} WHERE {where}")[0][0]

    def enum_labels(self, type_name: str) -> list[str] | None:
        enum = self.expected.get("type", type_name)
        return enum.attrs["enum"] if enum and "enum" in enum.attrs else None

    def involves_kept_column(self, obj: DbObject) -> bool:
        return any(f"{obj.table}.{column}" in self.kept_columns for column in obj.info.get("columns", []))

    def add(self, title: str, statements: list[str], details: list[str] | None = None) -> None:
        if statements:
            self.steps.append(Step(title, statements, details or []))

    # --- the plan ------------------------------------------------------------------------------

    def plan(self) -> Plan:
        tables = [(name, self.count(name)) for name in self.legacy_tables]
        to_drop, renames, kept = self.classify_extras()
        recreated_enums = self.plan_drops(to_drop, renames)
        self.plan_types_and_functions(recreated_enums)
        to_run, to_record = self.unapplied_migrations()
        self.steps.append(
            Step(
                "Django's own tables: run the migrations of the other apps",
                ["SET CONSTRAINTS ALL IMMEDIATE"],
                [
                    "foreign keys are checked at once from here: in one transaction, deferred checks of one "
                    "migration's rows would block the next migration's ALTER TABLE",
                    f"migrations run: {', '.join(to_run) or 'none'}",
                ],
                action=_django_migrations(fake=False),
            )
        )
        self.plan_new_tables()
        self.plan_columns(recreated_enums)
        self.plan_data()
        self.plan_late_objects(renames)
        if self.statistics:
            self.steps.append(self.statistics)
        self.plan_kept(kept)
        self.steps.append(
            Step(
                "Record the project's migrations as applied (fake)",
                details=[f"migrations recorded: {', '.join(to_record) or 'none'}"],
                action=_django_migrations(fake=True),
            )
        )
        golang = self.live.golang_migrate
        if golang and golang["dirty"]:
            table = f"{self.q(golang['schema'])}.{GOLANG_MIGRATE_TABLE}"
            self.add(
                "Mark golang-migrate's table clean, keeping its history",
                [f"UPDATE {table} SET dirty = false WHERE dirty"],
                [f"version {golang['version']} stays; Django's migrations own the schema from now on"],
            )
        elif golang:
            self.notes.append(f"golang-migrate's table is clean (version {golang['version']}); it is kept as history")
        return Plan(self.steps, self.blockers, self.notes, tables)

    def unapplied_migrations(self) -> tuple[list[str], list[str]]:
        """(the other apps' migrations to run, the project's to record), in the order they apply."""
        project = project_app_labels()
        executor = MigrationExecutor(self.connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        keys = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
        to_run = [key for (migration, _), key in zip(plan, keys, strict=True) if migration.app_label not in project]
        to_record = [key for key in keys if key not in to_run]
        return to_run, to_record

    def classify_extras(self) -> tuple[list[DbObject], dict[tuple[str, str], DbObject], list[DbObject]]:
        """(extras to drop, {missing key: extra to rename into it}, extras to keep)."""
        to_drop, kept = [], []
        for obj in self.extra:
            if obj.table in self.extra_tables:
                continue  # comes with its table
            if obj.kind in ("index", "constraint", "trigger", "policy"):
                keep = obj.kind in ("index", "constraint") and self.involves_kept_column(obj)
                if obj.kind == "index" and not obj.attrs["valid"]:
                    keep = False
                (kept if keep else to_drop).append(obj)
            else:
                kept.append(obj)
        renames = {}
        for wanted in self.missing:
            if wanted.table not in self.platform_tables or wanted.kind not in ("index", "constraint"):
                continue
            for candidate in to_drop:
                if (
                    candidate.table == wanted.table
                    and candidate not in renames.values()
                    and self.same(wanted, candidate)
                ):
                    renames[wanted.key] = candidate
                    break
        to_drop = [obj for obj in to_drop if obj not in renames.values()]
        return to_drop, renames, kept

    def same(self, wanted: DbObject, candidate: DbObject) -> bool:
        """`candidate` is `wanted` under another name (indexes, primary keys and unique constraints only)."""
        if wanted.kind != candidate.kind:
            return False
        if wanted.kind == "index":
            if not candidate.attrs["valid"]:
                return False
            return _index_shape(wanted) == _index_shape(candidate)
        return wanted.attrs["type"] in ("primary key", "unique") and self.expected.matches(wanted, candidate)

    def drop_statement(self, obj: DbObject) -> str:
        match obj.kind:
            case "index":
                return f"DROP INDEX {self.table(obj.name)}"
            case "constraint":
                return f"ALTER TABLE {self.table(obj.table)} DROP CONSTRAINT {self.q(obj.short_name)}"
            case "trigger" | "policy":
                return f"DROP {obj.kind.upper()} {self.q(obj.short_name)} ON {self.table(obj.table)}"
            case "view":
                kind = "MATERIALIZED VIEW" if obj.attrs["materialized"] else "VIEW"
                return f"DROP {kind} {self.table(obj.name)}"
        raise ValueError(obj.kind)

    def plan_drops(self, to_drop: list[DbObject], renames: dict[tuple[str, str], DbObject]) -> set[str]:
        """Drop what is replaced; rename look-alikes; set aside enum types to re-create. Returns those types."""
        replaced = [live for expected, live in self.different if expected.kind in _REPLACED_KINDS]
        drops = sorted(to_drop + replaced, key=_drop_order)
        details = [f"{obj.kind} {obj.name}: {_definition(obj)}" for obj in drops]
        statements = [self.drop_statement(obj) for obj in drops]
        for wanted_key, candidate in renames.items():
            wanted = self.target[wanted_key]
            if candidate.kind == "index":
                statements.append(f"ALTER INDEX {self.table(candidate.name)} RENAME TO {self.q(wanted.name)}")
            else:
                statements.append(
                    f"ALTER TABLE {self.table(candidate.table)} RENAME CONSTRAINT {self.q(candidate.short_name)} "
                    f"TO {self.q(wanted.short_name)}"
                )
            details.append(f"{candidate.kind} {candidate.name} is {wanted.name}: renamed")
        recreated = set()
        for expected, live in self.different:
            if expected.kind != "type":
                continue
            if "enum" not in expected.attrs or "enum" not in live.attrs:
                self.blockers.append(
                    f"type {expected.name} differs ({describe_changes_of(expected, live)}): adjust it by hand"
                )
                continue
            recreated.add(expected.name)
            users = [c.name for c in self.current.values() if c.kind == "column" and c.attrs["type"] == expected.name]
            details.append(
                f"enum type {expected.name} has labels ({', '.join(live.attrs['enum'])}), expected "
                f"({', '.join(expected.attrs['enum'])}): re-created"
                + (f"; its columns {', '.join(users)} are converted" if users else "")
            )
            if users:
                statements.append(
                    f"ALTER TYPE {self.table(expected.name)} RENAME TO {self.q(_legacy_enum(expected.name))}"
                )
            else:
                statements.append(f"DROP TYPE {self.table(expected.name)}")
        self.add("Drop or rename what the expected schema replaces", statements, details)
        return recreated

    def plan_types_and_functions(self, recreated_enums: set[str]) -> None:
        statements, details = [], []
        for expected, live in self.different:
            if expected.kind == "extension":
                if live.attrs["schema"] != expected.attrs["schema"]:
                    statements.append(f"ALTER EXTENSION {self.q(expected.name)} SET SCHEMA {expected.attrs['schema']}")
                if live.attrs["version"] != expected.attrs["version"]:
                    statements.append(
                        f"ALTER EXTENSION {self.q(expected.name)} UPDATE TO '{expected.attrs['version']}'"
                    )
                details.append(f"extension {expected.name}: {describe_changes_of(expected, live)}")
        statements += [ddl.create_extension(obj, self.expected) for obj in self.missing if obj.kind == "extension"]
        self.add("Extensions", statements, details)

        types = [obj for obj in self.missing if obj.kind == "type"] + [
            self.target[("type", name)] for name in sorted(recreated_enums)
        ]
        self.add("Types", [ddl.create_type(obj, self.expected) for obj in types])
        self.add(
            "Sequences", [ddl.create_sequence(obj, self.expected) for obj in self.missing if obj.kind == "sequence"]
        )
        for expected, live in self.different:
            if expected.kind == "sequence":
                self.blockers.append(
                    f"sequence {expected.name} differs ({describe_changes_of(expected, live)}): adjust it by hand"
                )

        statements, details = [], []
        for expected, live in self.different:
            if expected.kind != "function":
                continue
            details.append(f"function {expected.name}: {describe_changes_of(expected, live)}")
            if {"kind", "result", "arguments"} & set(_changed(expected, live)):
                statements.append(
                    f"DROP ROUTINE {self.expected.qualified(expected.info['proname'])}({expected.info['identity']})"
                )
            statements.append(ddl.create_function(expected))
        statements += [ddl.create_function(obj) for obj in self.missing if obj.kind == "function"]
        if statements:
            statements.insert(0, "SET LOCAL check_function_bodies = off")
        self.add("Functions", statements, details)

    def plan_new_tables(self) -> None:
        statements = []
        for obj in self.missing:
            if obj.kind == "table":
                statements += ddl.create_table(obj, self.expected)
        self.add("New tables (their constraints and indexes come later)", statements)

    def plan_columns(self, recreated_enums: set[str]) -> None:
        """Rename type -> key_type, add the missing columns, convert types and defaults, then NOT NULL."""
        if self.renamed_type:
            self.add(
                "api_keys.type is now key_type",
                [f"ALTER TABLE {self.table(legacy.API_KEYS_TABLE)} RENAME COLUMN type TO key_type"],
            )
        statements = []
        for column in self.missing:
            if column.kind != "column" or column.table in self.new_tables:
                continue
            statements.append(ddl.add_column(column, self.expected, not_null=False))
            if column.attrs["not_null"]:
                self.not_null.append((column, None))
        self.add("Missing columns (added nullable; NOT NULL once filled)", statements)

        statements, details = [], []
        for expected, live in self.different:
            if expected.kind == "column":
                statements += self.convert_column(expected, live, recreated_enums, details)
            elif expected.kind == "table":
                statements += self.table_options(expected, live)
        self.add("Column types, values and defaults; table options", statements, details)

    def table_options(self, expected: DbObject, live: DbObject) -> list[str]:
        """Persistence and row-level security of a table the legacy database has."""
        table, e, a = self.table(expected.name), expected.attrs, live.attrs
        statements = []
        if e["unlogged"] != a["unlogged"]:
            statements.append(f"ALTER TABLE {table} SET {'UNLOGGED' if e['unlogged'] else 'LOGGED'}")
        if e["row_level_security"] != a["row_level_security"]:
            statements.append(
                f"ALTER TABLE {table} {'ENABLE' if e['row_level_security'] else 'DISABLE'} ROW LEVEL SECURITY"
            )
        if e["force_row_level_security"] != a["force_row_level_security"]:
            statements.append(
                f"ALTER TABLE {table} {'' if e['force_row_level_security'] else 'NO '}FORCE ROW LEVEL SECURITY"
            )
        return statements

    def expected_values(self, expected: DbObject, attr: str) -> list[Any]:
        """The attribute as PostgreSQL prints it when the migrations create it, and when our DDL does."""
        equivalent = self.expected.equivalents.get(expected.key)
        return [expected.attrs[attr]] + ([equivalent.attrs[attr]] if equivalent else [])

    def convert_column(
        self, expected: DbObject, live: DbObject, recreated_enums: set[str], details: list[str]
    ) -> list[str]:
        table, name = self.table(expected.table), self.q(expected.short_name)
        e, a = expected.attrs, live.attrs
        if e["identity"] != a["identity"] or e["generated"] != a["generated"]:
            self.blockers.append(f"column {expected.name}: {describe_changes_of(expected, live)}: adjust it by hand")
            return []
        statements = []
        type_changes = e["type"] != a["type"] or e["collation"] != a["collation"] or a["type"] in recreated_enums
        if type_changes:
            if a["default"] is not None:
                statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} DROP DEFAULT")
            using = self.conversion(expected, live, details)
            collate = f" COLLATE {self.q(e['collation'])}" if e["collation"] else ""
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {e['type']}{collate} USING {using}")
            if e["default"] is not None:
                statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {e['default']}")
        elif a["default"] not in self.expected_values(expected, "default"):
            if e["default"] is None:
                statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} DROP DEFAULT")
            else:
                statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {e['default']}")
        if e["not_null"] and not a["not_null"]:
            self.not_null.append((expected, live))
        elif a["not_null"] and not e["not_null"]:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} DROP NOT NULL")
        return statements

    def conversion(self, expected: DbObject, live: DbObject, details: list[str]) -> str:
        """The USING expression of a type change, after checking (and reporting) every value."""
        column, source = self.q(expected.short_name), self.q(self.live_column(expected))
        target = expected.attrs["type"]
        labels = self.enum_labels(target)
        details.append(f"{expected.name}: {live.attrs['type']} -> {target}")
        if labels is None:
            self.check_castable(expected, source, target)
            return f"{column}::{target}"
        mapping = self.value_maps.get(target, {})
        mapped = self.check_values(expected, source, labels, mapping, details)
        if not mapped:
            return f"{column}::text::{target}"
        cases = " ".join(f"WHEN {ddl.quote_literal(old)} THEN {ddl.quote_literal(new)}" for old, new in mapped.items())
        return f"(CASE {column}::text {cases} ELSE {column}::text END)::{target}"

    def check_values(
        self, expected: DbObject, source: str, labels: list[str], mapping: dict[str, str], details: list[str]
    ) -> dict[str, str]:
        """Report each value of the column with its row count and mapping; block on the unmappable ones."""
        used = {}
        for value, rows in self.rows(
            f"SELECT {source}::text, count(*) FROM {self.table(expected.table)} GROUP BY 1 ORDER BY 1 NULLS LAST"
        ):
            if value is None:
                details.append(f"  NULL: {rows} row(s)")
                continue
            new = mapping.get(value, value)
            if new not in labels:
                option = legacy.ENUM_OPTIONS.get(expected.attrs["type"])
                hint = f" (map it with {option} {value}=<label>)" if option else ""
                self.blockers.append(
                    f"{expected.name}: {rows} row(s) hold {value!r}, which is not a {expected.attrs['type']} label "
                    f"({', '.join(labels)}){hint}"
                )
                continue
            if new != value:
                used[value] = new
                details.append(f"  {value!r} -> {new!r}: {rows} row(s)")
            else:
                details.append(f"  {value!r} kept: {rows} row(s)")
        return used

    def check_castable(self, expected: DbObject, source: str, target: str) -> None:
        where = f"{source} IS NOT NULL AND NOT pg_input_is_valid({source}::text, {ddl.quote_literal(target)})"
        try:
            invalid = self.count(expected.table, where)
        except Exception:  # noqa: BLE001  (types without soft input errors, e.g. vector: checked when applying)
            return
        if invalid:
            self.blockers.append(f"{expected.name}: {invalid} value(s) cannot be converted to {target}")

    def plan_data(self) -> None:
        """Legacy API keys, NOT NULL fills, the legacy enum types, tenants, derived search data."""
        if legacy.API_KEYS_TABLE in self.platform_tables:
            self.plan_api_keys()
        statements, details = [], []
        for column, live in self.not_null:
            table, name = self.table(column.table), self.q(column.short_name)
            nulls = self.null_count(column, live)
            if nulls and (column.table, column.short_name) not in self.filled_elsewhere():
                filler = legacy.NOT_NULL_FILLERS.get((column.table, column.short_name)) or column.attrs["default"]
                if filler is None:
                    self.blockers.append(f"{column.name}: {nulls} row(s) are NULL and no rule fills them (NOT NULL)")
                    continue
                statements.append(f"UPDATE {table} SET {name} = {filler} WHERE {name} IS NULL")
                details.append(f"{column.name}: {nulls} NULL row(s) set to {filler}")
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} SET NOT NULL")
        self.add("NOT NULL columns", statements, details)
        self.add(
            "Drop the legacy enum types (their columns are converted)",
            [
                f"DROP TYPE {self.table(_legacy_enum(expected.name))}"
                for expected, live in self.different
                if expected.kind == "type"
                and any(c.attrs["type"] == expected.name for c in self.current.values() if c.kind == "column")
            ],
        )
        self.plan_tenants()
        self.plan_search()

    def null_count(self, column: DbObject, live: DbObject | None) -> int:
        if live is None:  # added by adoption: NULL everywhere unless its default filled it
            return 0 if column.attrs["default"] is not None else self.count(column.table)
        return self.count(column.table, f"{self.q(self.live_column(column))} IS NULL")

    def filled_elsewhere(self) -> set[tuple[str, str]]:
        return {(legacy.API_KEYS_TABLE, "key_prefix")} if legacy.API_KEYS_TABLE in self.platform_tables else set()

    def plan_api_keys(self) -> None:
        table = self.table(legacy.API_KEYS_TABLE)
        statements, details = [], []
        type_column = legacy.LEGACY_TYPE_COLUMN if self.renamed_type else legacy.KEY_TYPE_COLUMN
        types = dict(self.rows(f"SELECT {type_column}, count(*) FROM {table} GROUP BY 1 ORDER BY 1 NULLS LAST"))
        if self.renamed_type:
            statements.append(
                f"UPDATE {table} SET metadata = COALESCE(metadata, '{{}}'::jsonb) || "
                "jsonb_build_object('legacy_type', key_type) WHERE key_type IS NOT NULL"
            )
            details.append("metadata.legacy_type = the legacy type, on every key that has one")
        if types.get("temporary"):
            temporary = types["temporary"]
            if ("column", f"{legacy.API_KEYS_TABLE}.expires_at") in self.current:
                temporary = self.count(legacy.API_KEYS_TABLE, f"{type_column} = 'temporary' AND expires_at IS NULL")
            statements.append(
                f"UPDATE {table} SET expires_at = CURRENT_TIMESTAMP + interval '{self.temporary_key_hours} hours' "
                "WHERE key_type = 'temporary' AND expires_at IS NULL"
            )
            details.append(
                f"temporary keys: {types['temporary']}; {temporary} without expires_at expire "
                f"{self.temporary_key_hours} h after adoption, the others keep theirs"
            )
        statements += self.key_prefix_statements(details)
        mapped = {}
        for value, rows in types.items():
            new = legacy.LEGACY_KEY_TYPES.get(value, value)
            if value is None:
                details.append(f"type NULL: {rows} key(s) (key_type gets its default)")
            elif new not in KeyType.values:
                self.blockers.append(
                    f"api_keys.{type_column}: {rows} key(s) have type {value!r}, which maps to no key_type"
                )
            else:
                details.append(f"type {value!r} -> key_type {new!r}: {rows} key(s)")
                if new != value:
                    mapped[value] = new
        if mapped:
            cases = " ".join(
                f"WHEN {ddl.quote_literal(old)} THEN {ddl.quote_literal(new)}" for old, new in mapped.items()
            )
            olds = ", ".join(ddl.quote_literal(old) for old in mapped)
            statements.append(f"UPDATE {table} SET key_type = CASE key_type {cases} END WHERE key_type IN ({olds})")
        hashed = self.count(legacy.API_KEYS_TABLE, "key_hash ~ '^[0-9a-f]{64}$'")
        total = sum(types.values())
        self.notes.append(
            f"API keys: {hashed} of {total} legacy key(s) store a lowercase hex SHA-256 key_hash; they keep "
            "authenticating (MCPADMIN_ACCEPT_LEGACY_KEYS=true) if the Go platform hashed the whole raw key that "
            f"way. The other {total - hashed} must be re-issued."
        )
        self.add("Legacy API keys", statements, details)

    def key_prefix_statements(self, details: list[str]) -> list[str]:
        table = self.table(legacy.API_KEYS_TABLE)
        values = []
        for (key_id,) in self.rows(f"SELECT id::text FROM {table} ORDER BY id"):
            try:
                prefix = legacy.legacy_key_prefix(uuid.UUID(key_id))
            except ValueError:
                self.blockers.append(f"api_keys.id {key_id!r} is not a UUID")
                continue
            values.append(f"({ddl.quote_literal(key_id)}::uuid, {ddl.quote_literal(prefix)})")
        if not values:
            return []
        details.append(
            f"key_prefix of {len(values)} key(s) = 'legacy-' + the id in base 36 (a legacy key_prefix moves to "
            "metadata.legacy_key_prefix)"
        )
        return [
            f"UPDATE {table} AS k SET key_prefix = v.prefix, metadata = CASE WHEN k.key_prefix IS NULL "
            "THEN k.metadata ELSE COALESCE(k.metadata, '{}'::jsonb) || jsonb_build_object('legacy_key_prefix', "
            "k.key_prefix) END\n  FROM (VALUES "
            + ",\n          ".join(values)
            + ") AS v(id, prefix)\n WHERE k.id = v.id"
        ]

    def plan_tenants(self) -> None:
        """A tenants row (and its default tenant_config) for every tenant id the legacy rows hold."""
        if ("table", legacy.TENANTS_TABLE) not in self.target:
            return
        sources = sorted(
            (c.table, c.info["columns"][0])
            for c in self.target.values()
            if c.kind == "constraint"
            and c.info.get("ref_table") == legacy.TENANTS_TABLE
            and c.table in self.platform_tables
            and len(c.info["columns"]) == 1
            and ("column", f"{c.table}.{c.info['columns'][0]}") in self.current
        )
        if not sources:
            return
        found = " UNION ".join(f"SELECT {self.q(column)} AS id FROM {self.table(table)}" for table, column in sources)
        tenants = self.table(legacy.TENANTS_TABLE)
        exists = legacy.TENANTS_TABLE in self.platform_tables
        count = self.rows(
            f"SELECT count(DISTINCT id) FROM ({found}) AS found WHERE id IS NOT NULL"
            + (f" AND id::text NOT IN (SELECT id::text FROM {tenants})" if exists else "")
        )[0][0]
        if not count:
            return
        name = legacy.LEGACY_TENANT_NAME_SQL.format(id="found.id")
        statements = [
            f"INSERT INTO {tenants} (id, name) SELECT DISTINCT found.id, {name} FROM ({found}) AS found "
            f"WHERE found.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {tenants} AS t WHERE t.id = found.id)"
        ]
        details = [
            f"{count} tenant id(s) found in {', '.join(f'{t}.{c}' for t, c in sources)}: a tenant named "
            "legacy-<id> each"
        ]
        if ("column", f"{legacy.TENANT_CONFIG_TABLE}.tenant_id") in self.target:
            config = self.table(legacy.TENANT_CONFIG_TABLE)
            statements.append(
                f"INSERT INTO {config} (tenant_id) SELECT t.id FROM {tenants} AS t "
                f"WHERE NOT EXISTS (SELECT 1 FROM {config} AS c WHERE c.tenant_id = t.id)"
            )
            details.append("each tenant without a tenant_config row gets one with the defaults")
        self.add("Tenants for the tenant ids of the legacy rows", statements, details)

    def plan_search(self) -> None:
        """Search data of the legacy embeddings, derived by the search app's own rebuild (as for new documents)."""
        if "embeddings" not in self.platform_tables or ("table", "search_collections") not in self.target:
            return
        rows = self.count("embeddings")
        if not rows:
            return
        # After the constraints and indexes: the rebuild's upserts need their unique keys.
        self.statistics = Step(
            "Search data of the legacy embeddings",
            details=[
                f"{rows} embedding(s): a search collection for each (tenant, collection) they name (analyzer english)",
                "every derived column (content_tsvector, term_frequencies, document_length, content_hash, dimension, "
                "normalized_embedding, idf_scores), the term statistics, postings and embedding_statistics, "
                "recomputed by search.services.collection_stats_rebuild, the code of manage.py rebuild_search_stats",
            ],
            action=_search_rebuild,
        )

    def plan_late_objects(self, renames: dict[tuple[str, str], DbObject]) -> None:
        """Constraints, indexes, views, triggers and policies: missing ones, and the replaced ones again."""
        wanted = [obj for obj in self.missing if obj.kind in _REPLACED_KINDS and obj.key not in renames]
        wanted += [expected for expected, _ in self.different if expected.kind in _REPLACED_KINDS]
        orphans = [obj for obj in wanted if obj.kind == "constraint" and obj.attrs["type"] == "foreign key"]
        for constraint in orphans:
            self.check_references(constraint)
        statements = ddl.create_statements(wanted, self.expected)
        self.add("Constraints, indexes, views, triggers and policies", statements)

    def check_references(self, constraint: DbObject) -> None:
        """Rows that reference nothing would make ADD FOREIGN KEY fail: report them up front."""
        table, ref = constraint.table, constraint.info["ref_table"]
        if table not in self.platform_tables or ref == legacy.TENANTS_TABLE:
            return
        live_columns = []
        for column in constraint.info["columns"]:
            live = self.current.get(("column", f"{table}.{column}"))
            if live is None:
                return  # added by adoption: NULL
            live_columns.append(self.live_column(live))
        pairs = zip(live_columns, constraint.info["ref_columns"], strict=True)
        if ref in self.platform_tables:
            match = " AND ".join(f"r.{self.q(rc)}::text = t.{self.q(c)}::text" for c, rc in pairs)
            exists = f"EXISTS (SELECT 1 FROM {self.table(ref)} AS r WHERE {match})"
        else:
            exists = "false"
        present = " AND ".join(f"t.{self.q(c)} IS NOT NULL" for c in live_columns)
        dangling = self.rows(f"SELECT count(*) FROM {self.table(table)} AS t WHERE {present} AND NOT {exists}")[0][0]
        if dangling:
            self.blockers.append(
                f"{table}: {dangling} row(s) reference {ref} rows that do not exist ({constraint.short_name})"
            )

    def plan_kept(self, kept: list[DbObject]) -> None:
        statements, details = [], []
        for obj in kept:
            if obj.kind == "column" and obj.attrs["not_null"] and obj.attrs["default"] is None:
                statements.append(
                    f"ALTER TABLE {self.table(obj.table)} ALTER COLUMN {self.q(obj.short_name)} DROP NOT NULL"
                )
                details.append(f"{obj.name}: NOT NULL without a default, which the platform's inserts would break")
            comment = f"{KEEP_MARKER} legacy {obj.kind}, kept by adopt_legacy_db"
            if obj.info.get("comment"):
                comment += f"; was: {obj.info['comment']}"
            statements.append(f"COMMENT ON {self.comment_target(obj)} IS {ddl.quote_literal(comment)}")
            details.append(f"{obj.kind} {obj.name} kept")
        self.add("Keep the legacy objects the expected schema does not have", statements, details)

    def comment_target(self, obj: DbObject) -> str:
        match obj.kind:
            case "column":
                return f"COLUMN {self.table(obj.table)}.{self.q(obj.short_name)}"
            case "constraint" | "trigger" | "policy":
                return f"{obj.kind.upper()} {self.q(obj.short_name)} ON {self.table(obj.table)}"
            case "function":
                return f"ROUTINE {self.table(obj.info['proname'])}({obj.info['identity']})"
            case "view":
                return f"{'MATERIALIZED VIEW' if obj.attrs['materialized'] else 'VIEW'} {self.table(obj.name)}"
            case "extension":
                return f"EXTENSION {self.q(obj.name)}"
            case "type" | "table" | "index" | "sequence":
                return f"{obj.kind.upper()} {self.table(obj.name)}"
        raise ValueError(obj.kind)


#: Kinds that are dropped and created again when they differ.
_REPLACED_KINDS = ("constraint", "index", "view", "trigger", "policy")


def _drop_order(obj: DbObject) -> tuple[int, str]:
    """Dependents first: triggers, policies, views, then foreign keys before the keys they reference, indexes."""
    if obj.kind == "constraint":
        return (3 if obj.attrs["type"] == "foreign key" else 4, obj.name)
    return ({"trigger": 0, "policy": 1, "view": 2, "index": 5}[obj.kind], obj.name)


def _legacy_enum(name: str) -> str:
    return f"{name}__legacy"


def _index_shape(index: DbObject) -> str:
    """The index definition without its name."""
    return re.sub(r"^(CREATE (?:UNIQUE )?INDEX )\S+ ON ", r"\1? ON ", index.attrs["definition"])


def _definition(obj: DbObject) -> str:
    return obj.attrs.get("definition") or obj.kind


def _changed(expected: DbObject, live: DbObject) -> list[str]:
    return [attr for attr, value in expected.attrs.items() if live.attrs.get(attr) != value]


def describe_changes_of(expected: DbObject, live: DbObject) -> str:
    return describe_changes(Difference(expected, live))
