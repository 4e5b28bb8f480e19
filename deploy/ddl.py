"""DDL that creates catalog objects, written from the expected catalog's own definitions.

Statements carry no trailing semicolon; `script()` adds them for humans.
"""

from __future__ import annotations

from collections.abc import Iterable

from .catalog import KINDS, Catalog, DbObject

#: Constraints that others may reference come first; foreign keys last.
_CONSTRAINT_ORDER = {"primary key": 0, "unique": 1, "exclusion": 2, "check": 3, "foreign key": 4}

#: Function bodies reference tables created later; pg_dump does the same.
NO_FUNCTION_BODY_CHECKS = "SET check_function_bodies = false"


def preamble(catalog: Catalog) -> list[str]:
    """What a script needs first: the schema, and the search_path the definitions were printed with."""
    schema = catalog.quote(catalog.schema)
    return [f"CREATE SCHEMA IF NOT EXISTS {schema}", f"SET search_path = {schema}, public", NO_FUNCTION_BODY_CHECKS]


def column_definition(column: DbObject, catalog: Catalog, *, not_null: bool = True) -> str:
    attrs = column.attrs
    parts = [catalog.quote(column.short_name), attrs["type"]]
    if attrs["collation"]:
        parts.append(f"COLLATE {catalog.quote(attrs['collation'])}")
    if attrs["generated"]:
        parts.append(f"GENERATED ALWAYS AS {attrs['generated']}")
    elif attrs["identity"]:
        parts.append(f"GENERATED {attrs['identity']} AS IDENTITY")
    elif attrs["default"] is not None:
        parts.append(f"DEFAULT {attrs['default']}")
    if not_null and attrs["not_null"]:
        parts.append("NOT NULL")
    return " ".join(parts)


def create_extension(extension: DbObject, catalog: Catalog) -> str:
    return f"CREATE EXTENSION IF NOT EXISTS {catalog.quote(extension.name)} WITH SCHEMA {extension.attrs['schema']}"


def create_type(type_: DbObject, catalog: Catalog) -> str:
    if "enum" in type_.attrs:
        labels = ", ".join(quote_literal(label) for label in type_.attrs["enum"])
        return f"CREATE TYPE {catalog.qualified(type_.name)} AS ENUM ({labels})"
    attrs = type_.attrs
    parts = [f"CREATE DOMAIN {catalog.qualified(type_.name)} AS {attrs['domain']}"]
    if attrs["default"] is not None:
        parts.append(f"DEFAULT {attrs['default']}")
    if attrs["not_null"]:
        parts.append("NOT NULL")
    parts.extend(attrs["checks"])
    return " ".join(parts)


def create_sequence(sequence: DbObject, catalog: Catalog) -> str:
    a = sequence.attrs
    cycle = "CYCLE" if a["cycle"] else "NO CYCLE"
    return (
        f"CREATE SEQUENCE {catalog.qualified(sequence.name)} AS {a['data_type']} INCREMENT BY {a['increment']} "
        f"MINVALUE {a['min']} MAXVALUE {a['max']} START WITH {a['start']} CACHE {a['cache']} {cycle}"
    )


def create_function(function: DbObject) -> str:
    return function.info["definition"].rstrip()


def create_table(table: DbObject, catalog: Catalog) -> list[str]:
    """The table with its columns; constraints, indexes and the rest come from their own objects."""
    in_order = sorted(catalog.on_table(table.name, "column"), key=lambda column: column.info["position"])
    columns = ",\n    ".join(column_definition(column, catalog) for column in in_order)
    unlogged = "UNLOGGED " if table.attrs["unlogged"] else ""
    statements = [f"CREATE {unlogged}TABLE {catalog.qualified(table.name)} (\n    {columns}\n)"]
    return statements + row_level_security(table, catalog)


def row_level_security(table: DbObject, catalog: Catalog) -> list[str]:
    name = catalog.qualified(table.name)
    statements = []
    if table.attrs["row_level_security"]:
        statements.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    if table.attrs["force_row_level_security"]:
        statements.append(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    return statements


def add_column(column: DbObject, catalog: Catalog, *, not_null: bool = True) -> str:
    definition = column_definition(column, catalog, not_null=not_null)
    return f"ALTER TABLE {catalog.qualified(column.table)} ADD COLUMN {definition}"


def add_constraint(constraint: DbObject, catalog: Catalog) -> str:
    return (
        f"ALTER TABLE {catalog.qualified(constraint.table)} "
        f"ADD CONSTRAINT {catalog.quote(constraint.short_name)} {constraint.attrs['definition']}"
    )


def create_index(index: DbObject) -> str:
    return index.attrs["definition"]


def create_view(view: DbObject, catalog: Catalog) -> str:
    kind = "MATERIALIZED VIEW" if view.attrs["materialized"] else "VIEW"
    return f"CREATE {kind} {catalog.qualified(view.name)} AS\n{view.attrs['definition'].rstrip().rstrip(';')}"


def create_trigger(trigger: DbObject, catalog: Catalog) -> list[str]:
    statements = [trigger.attrs["definition"]]
    if trigger.attrs["enabled"] != "origin":
        mode = {"disabled": "DISABLE", "replica": "ENABLE REPLICA", "always": "ENABLE ALWAYS"}[trigger.attrs["enabled"]]
        statements.append(
            f"ALTER TABLE {catalog.qualified(trigger.table)} {mode} TRIGGER {catalog.quote(trigger.short_name)}"
        )
    return statements


def create_policy(policy: DbObject, catalog: Catalog) -> str:
    a = policy.attrs
    roles = ", ".join(role if role == "public" else catalog.quote(role) for role in a["roles"])
    parts = [
        f"CREATE POLICY {catalog.quote(policy.short_name)} ON {catalog.qualified(policy.table)}",
        f"AS {'PERMISSIVE' if a['permissive'] else 'RESTRICTIVE'} FOR {a['command']} TO {roles}",
    ]
    if a["using"] is not None:
        parts.append(f"USING ({a['using']})")
    if a["with_check"] is not None:
        parts.append(f"WITH CHECK ({a['with_check']})")
    return " ".join(parts)


def create_statements(objects: Iterable[DbObject], catalog: Catalog) -> list[str]:
    """Statements that create `objects` (taken from `catalog`), dependencies first.

    The columns, constraints, indexes, triggers and policies of a table that is
    itself among `objects` come with it.
    """
    objects = list(objects)
    new_tables = {obj.name for obj in objects if obj.kind == "table"}
    by_kind: dict[str, list[DbObject]] = {kind: [] for kind in KINDS}
    for obj in objects:
        by_kind[obj.kind].append(obj)
    for table in sorted(new_tables):
        for obj in catalog.on_table(table):
            if obj.kind != "column" and obj not in by_kind[obj.kind]:
                by_kind[obj.kind].append(obj)

    statements: list[str] = []
    statements += [create_extension(obj, catalog) for obj in by_kind["extension"]]
    statements += [create_type(obj, catalog) for obj in by_kind["type"]]
    statements += [create_sequence(obj, catalog) for obj in by_kind["sequence"]]
    statements += [create_function(obj) for obj in by_kind["function"]]
    for table in by_kind["table"]:
        statements += create_table(table, catalog)
    statements += [add_column(obj, catalog) for obj in by_kind["column"] if obj.table not in new_tables]
    constraints = sorted(by_kind["constraint"], key=lambda c: (_CONSTRAINT_ORDER[c.attrs["type"]], c.name))
    statements += [add_constraint(obj, catalog) for obj in constraints]
    statements += [create_index(obj) for obj in by_kind["index"]]
    statements += [create_view(obj, catalog) for obj in by_kind["view"]]
    for trigger in by_kind["trigger"]:
        statements += create_trigger(trigger, catalog)
    statements += [create_policy(obj, catalog) for obj in by_kind["policy"]]
    return statements


def script(statements: Iterable[str]) -> str:
    """A psql-ready script: one statement per paragraph, each with its semicolon."""
    return "".join(f"{statement};\n\n" for statement in statements)


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
