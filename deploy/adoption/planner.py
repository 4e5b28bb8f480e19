"""The generic planner: compare the live catalog with the expected one and plan the DDL between them.

It knows nothing of the platform's tables or values: what only the legacy
data's meaning can tell (renamed columns, value mappings, fillers, rows to
create or derive) comes from the FixUp objects it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction

from .. import ddl
from ..catalog import GOLANG_MIGRATE_TABLE, KEEP_MARKER, Catalog, DbObject, read_catalog
from ..gap import Difference
from ..report import describe_changes
from .django_apps import django_migrations, django_owned_tables, unapplied_migrations
from .plan import Plan, Step

#: A fix-up's part of the plan: reads the live database through the planner, adds steps, blockers and notes.
Hook = Callable[["Planner"], None]


@dataclass(frozen=True)
class ValueMap:
    """Legacy values -> labels of one enum type, for every column of that type, and the option that overrides it."""

    labels: Mapping[str, str]
    #: Named in the blocker of a value that maps to no label.
    option: str


@dataclass(frozen=True)
class FixUp:
    """What the planner cannot derive from the catalogs: the meaning of some legacy data. Every part is optional.

    The hooks run in the plan's order: `data` once the columns exist and are
    converted (before NOT NULL is set), `referenced_rows` before the
    constraints (rows that the foreign keys will need), `derived` after the
    constraints and indexes (data computed from the adopted rows).
    """

    #: (table, legacy column, expected column): a column the legacy schema names differently; renamed, data kept.
    renamed_columns: tuple[tuple[str, str, str], ...] = ()
    #: {enum type: map}: how the values of the columns converted to that type become its labels.
    value_maps: Mapping[str, ValueMap] = field(default_factory=dict)
    #: {(table, column): SQL on the row's columns}: fills the NULLs of a NOT NULL column that has no default.
    not_null_fillers: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: (table, column) that this fix-up's `data` fills: they need no filler.
    filled_columns: frozenset[tuple[str, str]] = frozenset()
    #: Tables in which `referenced_rows` creates every row that legacy rows reference: their references are not checked.
    creates_referenced_rows: frozenset[str] = frozenset()
    data: Hook | None = None
    referenced_rows: Hook | None = None
    derived: Hook | None = None


class Planner:
    """Builds the plan from the expected catalog and the live one (see deploy.adoption)."""

    def __init__(self, alias: str, expected: Catalog, fixups: Iterable[FixUp] = ()) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.expected = expected
        self.live = read_catalog(self.connection)
        self.fixups = list(fixups)
        self.value_maps = {name: vm for fixup in self.fixups for name, vm in fixup.value_maps.items()}
        self.created_referenced_rows = {table for fixup in self.fixups for table in fixup.creates_referenced_rows}
        self.steps: list[Step] = []
        self.blockers: list[str] = []
        self.notes: list[str] = []
        #: (expected column, live column or None if added): columns to fill and make NOT NULL.
        self.not_null: list[tuple[DbObject, DbObject | None]] = []
        owned = django_owned_tables()

        def ours(obj: DbObject) -> bool:
            return obj.table not in owned and not (obj.kind == "table" and obj.name in owned)

        live_objects = {key: obj for key, obj in self.live.objects.items() if ours(obj)}
        #: {expected column name (table.column): its name in the live database before adoption}.
        self.renamed_columns = self.rename_live_columns(live_objects)
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

    def rename_live_columns(self, live_objects: dict[tuple[str, str], DbObject]) -> dict[str, str]:
        """Re-key, in `live_objects`, the fix-ups' renamed columns by their expected names (when only the legacy
        name is live), so that they compare with the expected columns. Returns {expected name: legacy column}."""
        renamed = {}
        for table, old, new in (rename for fixup in self.fixups for rename in fixup.renamed_columns):
            old_name, new_name = f"{table}.{old}", f"{table}.{new}"
            if (
                ("column", old_name) in live_objects
                and ("column", new_name) not in live_objects
                and ("column", new_name) in self.expected.objects
            ):
                live = live_objects.pop(("column", old_name))
                live_objects[("column", new_name)] = DbObject("column", new_name, live.attrs, live.table, live.info)
                renamed[new_name] = old
        return renamed

    # --- helpers (the fix-ups' too) --------------------------------------------------------------

    def q(self, name: str) -> str:
        return self.expected.quote(name)

    def table(self, name: str) -> str:
        return self.expected.qualified(name)

    def live_column_name(self, table: str, column: str) -> str:
        """The column's name in the live database before adoption (a renamed column's legacy name)."""
        return self.renamed_columns.get(f"{table}.{column}", column)

    def live_column(self, column: DbObject) -> str:
        return self.live_column_name(column.table, column.short_name)

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

    def run_hooks(self, hooks: Iterable[Hook | None]) -> None:
        for hook in hooks:
            if hook:
                hook(self)

    # --- the plan ------------------------------------------------------------------------------

    def plan(self) -> Plan:
        tables = [(name, self.count(name)) for name in self.legacy_tables]
        to_drop, renames, kept = self.classify_extras()
        recreated_enums = self.plan_drops(to_drop, renames)
        self.plan_types_and_functions(recreated_enums)
        to_run, to_record = unapplied_migrations(self.alias)
        self.steps.append(
            Step(
                "Django's own tables: run the migrations of the other apps",
                ["SET CONSTRAINTS ALL IMMEDIATE"],
                [
                    "foreign keys are checked at once from here: in one transaction, deferred checks of one "
                    "migration's rows would block the next migration's ALTER TABLE",
                    f"migrations run: {', '.join(to_run) or 'none'}",
                ],
                action=django_migrations(fake=False),
            )
        )
        self.plan_new_tables()
        self.plan_columns(recreated_enums)
        self.plan_data()
        self.plan_late_objects(renames)
        self.run_hooks(fixup.derived for fixup in self.fixups)
        self.plan_kept(kept)
        self.steps.append(
            Step(
                "Record the project's migrations as applied (fake)",
                details=[f"migrations recorded: {', '.join(to_record) or 'none'}"],
                action=django_migrations(fake=True),
            )
        )
        self.plan_golang_migrate()
        return Plan(self.steps, self.blockers, self.notes, tables)

    def plan_golang_migrate(self) -> None:
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
        """Rename the renamed columns, add the missing ones, convert types and defaults, then NOT NULL."""
        for new_name, old in self.renamed_columns.items():
            column = self.target[("column", new_name)]
            self.add(
                f"{column.table}.{old} is now {column.short_name}",
                [f"ALTER TABLE {self.table(column.table)} RENAME COLUMN {self.q(old)} TO {self.q(column.short_name)}"],
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
        # A stored generated column (the Go platform's content_hash) becomes a plain one that keeps its values.
        plain_again = e["generated"] is None and (a["generated"] or "").endswith(" STORED")
        if e["identity"] != a["identity"] or (e["generated"] != a["generated"] and not plain_again):
            self.blockers.append(f"column {expected.name}: {describe_changes_of(expected, live)}: adjust it by hand")
            return []
        statements = []
        if plain_again:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} DROP EXPRESSION")
            details.append(f"{expected.name}: generated ({a['generated']}) -> a plain column, values kept")
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
        mapped = self.check_values(expected, source, labels, self.value_maps.get(target), details)
        if not mapped:
            return f"{column}::text::{target}"
        cases = " ".join(f"WHEN {ddl.quote_literal(old)} THEN {ddl.quote_literal(new)}" for old, new in mapped.items())
        return f"(CASE {column}::text {cases} ELSE {column}::text END)::{target}"

    def check_values(
        self, expected: DbObject, source: str, labels: list[str], value_map: ValueMap | None, details: list[str]
    ) -> dict[str, str]:
        """Report each value of the column with its row count and mapping; block on the unmappable ones."""
        mapping = value_map.labels if value_map else {}
        used = {}
        for value, rows in self.rows(
            f"SELECT {source}::text, count(*) FROM {self.table(expected.table)} GROUP BY 1 ORDER BY 1 NULLS LAST"
        ):
            if value is None:
                details.append(f"  NULL: {rows} row(s)")
                continue
            new = mapping.get(value, value)
            if new not in labels:
                hint = f" (map it with {value_map.option} {value}=<label>)" if value_map else ""
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
        """The fix-ups' data, NOT NULL fills, the legacy enum types, the rows the fix-ups create for references."""
        self.run_hooks(fixup.data for fixup in self.fixups)
        self.plan_not_null()
        self.add(
            "Drop the legacy enum types (their columns are converted)",
            [
                f"DROP TYPE {self.table(_legacy_enum(expected.name))}"
                for expected, live in self.different
                if expected.kind == "type"
                and any(c.attrs["type"] == expected.name for c in self.current.values() if c.kind == "column")
            ],
        )
        self.run_hooks(fixup.referenced_rows for fixup in self.fixups)

    def plan_not_null(self) -> None:
        fillers = {column: sql for fixup in self.fixups for column, sql in fixup.not_null_fillers.items()}
        filled = {column for fixup in self.fixups for column in fixup.filled_columns}
        statements, details = [], []
        for column, live in self.not_null:
            table, name = self.table(column.table), self.q(column.short_name)
            nulls = self.null_count(column, live)
            if nulls and (column.table, column.short_name) not in filled:
                filler = fillers.get((column.table, column.short_name)) or column.attrs["default"]
                if filler is None:
                    self.blockers.append(f"{column.name}: {nulls} row(s) are NULL and no rule fills them (NOT NULL)")
                    continue
                statements.append(f"UPDATE {table} SET {name} = {filler} WHERE {name} IS NULL")
                details.append(f"{column.name}: {nulls} NULL row(s) set to {filler}")
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} SET NOT NULL")
        self.add("NOT NULL columns", statements, details)

    def null_count(self, column: DbObject, live: DbObject | None) -> int:
        if live is None:  # added by adoption: NULL everywhere unless its default filled it
            return 0 if column.attrs["default"] is not None else self.count(column.table)
        return self.count(column.table, f"{self.q(self.live_column(column))} IS NULL")

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
        if table not in self.platform_tables or ref in self.created_referenced_rows:
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
