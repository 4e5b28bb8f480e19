"""Schema gap analysis: the live database against the schema its migrations build.

`schema_gap_find()` is what `manage.py schema_gap` runs and what
`adopt_legacy_db` checks its own work with before it commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from .catalog import KINDS, Catalog, DbObject, read_catalog
from .ddl import create_statements, preamble
from .scratch import migrated_scratch_database

_KIND_ORDER = {kind: position for position, kind in enumerate(KINDS)}


def _order(obj: DbObject) -> tuple[int, str]:
    return (_KIND_ORDER[obj.kind], obj.name)


@dataclass(frozen=True)
class Difference:
    expected: DbObject
    actual: DbObject

    @property
    def kind(self) -> str:
        return self.expected.kind

    @property
    def name(self) -> str:
        return self.expected.name

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """attribute -> (actual, expected), for the attributes that differ."""
        return {
            attr: (self.actual.attrs.get(attr), expected)
            for attr, expected in self.expected.attrs.items()
            if self.actual.attrs.get(attr) != expected
        }


@dataclass
class MigrationState:
    """Django's record of applied migrations against the code, and golang-migrate's table if present."""

    not_applied: list[str] = field(default_factory=list)
    not_in_code: list[str] = field(default_factory=list)
    golang_migrate: dict[str, Any] | None = None

    @property
    def problems(self) -> list[str]:
        lines = [f"recorded as applied but not in the code: {key}" for key in self.not_in_code]
        lines += [f"in the code but not recorded as applied: {key}" for key in self.not_applied]
        if self.golang_migrate and self.golang_migrate["dirty"]:
            lines.append(f"{describe_golang_migrate(self.golang_migrate)} (a failed run; adopt_legacy_db cleans it)")
        return lines


def describe_golang_migrate(state: dict[str, Any]) -> str:
    flag = "dirty" if state["dirty"] else "clean"
    return f"legacy golang-migrate table {state['schema']}.schema_migrations: version {state['version']}, {flag}"


@dataclass
class SchemaGap:
    """What the live database lacks (`missing`), has on top (`extra`) and has otherwise (`different`).

    `missing`, `extra` and `kept` hold every object, including the columns,
    indexes... of a table that is missing (extra, kept) as a whole;
    `reported()` folds those into their table. `kept` are extra objects marked
    as kept (see catalog.KEEP_MARKER): listed, not a gap.
    """

    missing: list[DbObject]
    extra: list[DbObject]
    different: list[Difference]
    kept: list[DbObject]
    migrations: MigrationState
    expected: Catalog
    actual: Catalog

    @property
    def has_gap(self) -> bool:
        return bool(self.missing or self.extra or self.different or self.migrations.problems)

    def reported(self, objects: list[DbObject]) -> list[DbObject]:
        whole_tables = {obj.name for obj in objects if obj.kind == "table"}
        return [obj for obj in objects if obj.table not in whole_tables]


def compare(
    expected: Catalog, actual: Catalog
) -> tuple[list[DbObject], list[DbObject], list[Difference], list[DbObject]]:
    """(missing, extra, different, kept) between two catalogs."""
    missing = sorted((obj for key, obj in expected.objects.items() if key not in actual.objects), key=_order)
    different = [
        Difference(obj, actual.objects[key])
        for key, obj in sorted(expected.objects.items(), key=lambda item: _order(item[1]))
        if key in actual.objects and not expected.matches(obj, actual.objects[key])
    ]
    extra_tables = {name for (kind, name) in actual.objects if kind == "table" and (kind, name) not in expected.objects}
    kept_tables = {name for name in extra_tables if actual.objects[("table", name)].kept}
    extra, kept = [], []
    for key, obj in sorted(actual.objects.items(), key=lambda item: _order(item[1])):
        if key in expected.objects:
            continue
        if obj.kind == "extension" and obj.attrs["schema"] != actual.schema:
            continue  # other schemas' extensions are not ours to judge
        (kept if obj.kept or obj.table in kept_tables else extra).append(obj)
    return missing, extra, different, kept


def migration_state(connection: Any, golang_migrate: dict[str, Any] | None) -> MigrationState:
    executor = MigrationExecutor(connection)
    loader = executor.loader
    known = set(loader.disk_migrations)
    for migration in loader.disk_migrations.values():
        known.update(migration.replaces)
    plan = executor.migration_plan(loader.graph.leaf_nodes())
    return MigrationState(
        not_applied=[f"{migration.app_label}.{migration.name}" for migration, _ in plan],
        not_in_code=sorted(f"{app}.{name}" for app, name in set(loader.applied_migrations) - known),
        golang_migrate=golang_migrate,
    )


def expected_catalog(alias: str) -> Catalog:
    """The catalog of a migrated scratch database, with the renderings its DDL would produce.

    The schema is dropped and re-created from `ddl.create_statements` inside a
    transaction that is rolled back: the objects whose definition prints
    differently the second time get that rendering as an equivalent. It also
    proves that the DDL of `--sql` and `adopt_legacy_db` rebuilds the schema.
    """
    connection = connections[alias]
    catalog = read_catalog(connection)
    statements = [f"DROP SCHEMA {catalog.quote(catalog.schema)} CASCADE", *preamble(catalog)]
    statements += create_statements(catalog.objects.values(), catalog)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for statement in statements:
            try:
                cursor.execute(statement)
            except DatabaseError as error:
                raise RuntimeError(f"the expected schema cannot be re-created from its catalog: {error}") from error
        recreated = read_catalog(connection)
        transaction.set_rollback(True, using=alias)
    catalog.equivalents = {
        key: obj for key, obj in recreated.objects.items() if key in catalog.objects and obj != catalog.objects[key]
    }
    return catalog


def schema_gap_between(expected_alias: str, actual_alias: str) -> SchemaGap:
    expected = expected_catalog(expected_alias)
    actual = read_catalog(connections[actual_alias])
    missing, extra, different, kept = compare(expected, actual)
    migrations = migration_state(connections[actual_alias], actual.golang_migrate)
    return SchemaGap(missing, extra, different, kept, migrations, expected, actual)


def schema_gap_find(alias: str = DEFAULT_DB_ALIAS) -> SchemaGap:
    """Compare the database of `alias` with a scratch database built by the project's migrations."""
    with migrated_scratch_database(alias, purpose="gap") as scratch:
        return schema_gap_between(scratch, alias)
