"""A snapshot of what one database holds in schema `mcp` (and which extensions it has).

Both sides of a gap analysis are read with the same queries on the same
server, so PostgreSQL's own renderings (`format_type`, `pg_get_expr`,
`pg_get_indexdef`, `pg_get_constraintdef`, `pg_get_functiondef`,
`pg_get_triggerdef`) can be compared as text: two objects are equal when
PostgreSQL prints them the same way. Both connections use the same
search_path (`mcp, public`), which decides how type and table names print.

Objects that belong to an extension are left out: they come with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mcpadmin.db import PLATFORM_SCHEMA

#: A comment starting with this marks an extra object as kept on purpose (a legacy
#: column kept by adopt_legacy_db, another service's table): not a gap.
KEEP_MARKER = "mcpadmin:keep"

#: The order in which kinds are reported and created (dependencies first).
KINDS = (
    "extension",
    "type",
    "sequence",
    "function",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "trigger",
    "policy",
)

#: Kinds whose names are unique per table only, so their catalog name is "table.name".
_PER_TABLE_NAMES = ("column", "constraint", "trigger", "policy")

#: The golang-migrate bookkeeping table; reported as migration state, not as a table.
GOLANG_MIGRATE_TABLE = "schema_migrations"


@dataclass(frozen=True)
class DbObject:
    """One catalog object: `attrs` are compared, `info` only describes it."""

    kind: str
    name: str
    attrs: dict[str, Any]
    table: str | None = None
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def kept(self) -> bool:
        return (self.info.get("comment") or "").startswith(KEEP_MARKER)

    @property
    def short_name(self) -> str:
        """The name without its table (columns, constraints, triggers and policies are named per table)."""
        return self.name.split(".", 1)[1] if self.kind in _PER_TABLE_NAMES else self.name


@dataclass
class Catalog:
    schema: str
    objects: dict[tuple[str, str], DbObject]
    reserved_words: frozenset[str]
    #: golang-migrate's table: {"schema", "version", "dirty"}, or None.
    golang_migrate: dict[str, Any] | None = None
    #: Another rendering of the same object, where re-creating it from its printed definition
    #: prints it differently (PostgreSQL deparses `col IN ('a', 'b')` on a varchar column one way
    #: when Django creates it, another way when that text is parsed again).
    equivalents: dict[tuple[str, str], DbObject] = field(default_factory=dict)

    def matches(self, expected: DbObject, actual: DbObject) -> bool:
        """Whether `actual` is `expected` (an object of this catalog) as PostgreSQL prints it either way."""
        equivalent = self.equivalents.get(expected.key)
        return actual.attrs == expected.attrs or (equivalent is not None and actual.attrs == equivalent.attrs)

    def of_kind(self, kind: str) -> Iterator[DbObject]:
        return (obj for (k, _), obj in sorted(self.objects.items()) if k == kind)

    def get(self, kind: str, name: str) -> DbObject | None:
        return self.objects.get((kind, name))

    def on_table(self, table: str, kind: str | None = None) -> list[DbObject]:
        return [
            obj
            for obj in sorted(self.objects.values(), key=lambda o: o.key)
            if obj.table == table and (kind is None or obj.kind == kind)
        ]

    def quote(self, name: str) -> str:
        """An identifier as PostgreSQL's quote_ident() writes it."""
        if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in self.reserved_words:
            return name
        return '"' + name.replace('"', '""') + '"'

    def qualified(self, name: str) -> str:
        return f"{self.quote(self.schema)}.{self.quote(name)}"


def read_catalog(connection: Any, schema: str = PLATFORM_SCHEMA) -> Catalog:
    """Read the catalog of `schema` through a Django connection (any alias)."""
    with connection.cursor() as cursor:

        def rows(query: str) -> list[tuple[Any, ...]]:
            cursor.execute(query, {"schema": schema})
            return cursor.fetchall()

        reserved = frozenset(word for (word,) in rows("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'"))
        objects: list[DbObject] = []
        for reader in _READERS:
            objects.extend(reader(rows))
        golang = _golang_migrate_state(cursor, rows, schema)
    catalog = Catalog(schema, {obj.key: obj for obj in objects}, reserved, golang)
    if golang and golang["schema"] == schema:
        for obj in [*catalog.on_table(GOLANG_MIGRATE_TABLE), catalog.objects["table", GOLANG_MIGRATE_TABLE]]:
            del catalog.objects[obj.key]
    return catalog


# Objects created by an extension (pg_depend deptype 'e') are the extension's business.
_NOT_EXTENSION_MEMBER = """
    NOT EXISTS (SELECT 1 FROM pg_depend dep
                 WHERE dep.classid = '{catalog}'::regclass AND dep.objid = {oid} AND dep.deptype = 'e')
"""


def _not_member(catalog: str, oid: str) -> str:
    return _NOT_EXTENSION_MEMBER.format(catalog=catalog, oid=oid)


def _extensions(rows: Any) -> Iterator[DbObject]:
    for name, version, schema in rows(
        "SELECT e.extname, e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    ):
        yield DbObject("extension", name, {"version": version, "schema": schema})


def _types(rows: Any) -> Iterator[DbObject]:
    for name, labels, comment in rows(
        f"""
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder), obj_description(t.oid, 'pg_type')
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE n.nspname = %(schema)s AND {_not_member("pg_type", "t.oid")}
         GROUP BY t.oid, t.typname
        """
    ):
        yield DbObject("type", name, {"enum": list(labels)}, info={"comment": comment})
    for name, base, not_null, default, checks, comment in rows(
        f"""
        SELECT t.typname, format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
               ARRAY(SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
                      WHERE c.contypid = t.oid AND c.contype = 'c' ORDER BY c.conname),
               obj_description(t.oid, 'pg_type')
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = %(schema)s AND t.typtype = 'd' AND {_not_member("pg_type", "t.oid")}
        """
    ):
        attrs = {"domain": base, "not_null": not_null, "default": default, "checks": list(checks)}
        yield DbObject("type", name, attrs, info={"comment": comment})


def _sequences(rows: Any) -> Iterator[DbObject]:
    # Sequences of identity columns come with their column; a serial column's sequence belongs to its table.
    for name, data_type, start, increment, minimum, maximum, cache, cycle, table, comment in rows(
        f"""
        SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
               s.seqcache, s.seqcycle,
               (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
                   AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0),
               obj_description(c.oid, 'pg_class')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
         WHERE n.nspname = %(schema)s AND c.relkind = 'S' AND {_not_member("pg_class", "c.oid")}
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')
        """
    ):
        attrs = {
            "data_type": data_type,
            "start": start,
            "increment": increment,
            "min": minimum,
            "max": maximum,
            "cache": cache,
            "cycle": cycle,
        }
        yield DbObject("sequence", name, attrs, table=table, info={"comment": comment})


def _functions(rows: Any) -> Iterator[DbObject]:
    for (
        name,
        identity,
        arguments,
        result,
        language,
        kind,
        volatility,
        strict,
        definer,
        parallel,
        config,
        body,
        definition,
        comment,
    ) in rows(
        f"""
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_arguments(p.oid),
               pg_get_function_result(p.oid), l.lanname, p.prokind, p.provolatile, p.proisstrict, p.prosecdef,
               p.proparallel, p.proconfig,
               CASE WHEN p.prosqlbody IS NULL THEN p.prosrc ELSE pg_get_function_sqlbody(p.oid) END,
               CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
               obj_description(p.oid, 'pg_proc')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
         WHERE n.nspname = %(schema)s AND {_not_member("pg_proc", "p.oid")}
        """
    ):
        attrs = {
            "kind": {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}[kind],
            "arguments": arguments,
            "result": result,
            "language": language,
            "volatility": {"i": "immutable", "s": "stable", "v": "volatile"}[volatility],
            "strict": strict,
            "security_definer": definer,
            "parallel": {"s": "safe", "r": "restricted", "u": "unsafe"}[parallel],
            "config": list(config or []),
            "body": body,
        }
        info = {"comment": comment, "definition": definition, "identity": identity, "proname": name}
        yield DbObject("function", f"{name}({identity})", attrs, info=info)


def _tables(rows: Any) -> Iterator[DbObject]:
    for name, unlogged, rls, force_rls, comment in rows(
        f"""
        SELECT c.relname, c.relpersistence = 'u', c.relrowsecurity, c.relforcerowsecurity,
               obj_description(c.oid, 'pg_class')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND {_not_member("pg_class", "c.oid")}
        """
    ):
        attrs = {"unlogged": unlogged, "row_level_security": rls, "force_row_level_security": force_rls}
        yield DbObject("table", name, attrs, info={"comment": comment})


def _columns(rows: Any) -> Iterator[DbObject]:
    for table, name, position, type_name, not_null, default, generated, identity, collation, comment in rows(
        f"""
        SELECT c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
               CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) || ' '
                    || CASE a.attgenerated WHEN 's' THEN 'STORED' ELSE 'VIRTUAL' END END,
               CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END,
               CASE WHEN a.attcollation <> t.typcollation THEN coll.collname END,
               col_description(c.oid, a.attnum)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_collation coll ON coll.oid = a.attcollation
         WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
           AND {_not_member("pg_class", "c.oid")}
        """
    ):
        attrs = {
            "type": type_name,
            "not_null": not_null,
            "default": default,
            "generated": generated,
            "identity": identity,
            "collation": collation,
        }
        info = {"comment": comment, "position": position}
        yield DbObject("column", f"{table}.{name}", attrs, table=table, info=info)


def _constraints(rows: Any) -> Iterator[DbObject]:
    # NOT NULL constraints (contype 'n', PostgreSQL 18) are compared as the columns' nullability.
    for table, name, contype, definition, validated, columns, ref_table, ref_columns, comment in rows(
        f"""
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.convalidated,
               ARRAY(SELECT a.attname FROM unnest(k.conkey) AS u(attnum)
                       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
               rc.relname,
               ARRAY(SELECT a.attname FROM unnest(k.confkey) AS u(attnum)
                       JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum),
               obj_description(k.oid, 'pg_constraint')
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_class rc ON rc.oid = k.confrelid
         WHERE n.nspname = %(schema)s AND k.contype IN ('p', 'u', 'f', 'c', 'x')
           AND {_not_member("pg_class", "c.oid")}
        """
    ):
        kind = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check", "x": "exclusion"}[contype]
        info = {"comment": comment, "columns": list(columns), "ref_table": ref_table, "ref_columns": list(ref_columns)}
        attrs = {"type": kind, "definition": definition, "validated": validated}
        yield DbObject("constraint", f"{table}.{name}", attrs, table=table, info=info)


def _indexes(rows: Any) -> Iterator[DbObject]:
    # Indexes that implement a constraint (primary key, unique, exclusion) are compared as the constraint.
    for name, table, definition, valid, columns, comment in rows(
        f"""
        SELECT ic.relname, tc.relname, pg_get_indexdef(i.indexrelid), i.indisvalid,
               ARRAY(SELECT DISTINCT a.attname FROM pg_depend d
                       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjsubid > 0
                      ORDER BY 1),
               obj_description(ic.oid, 'pg_class')
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_class tc ON tc.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = ic.relnamespace
         WHERE n.nspname = %(schema)s AND tc.relkind IN ('r', 'p', 'm')
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                            WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                              AND k.contype IN ('p', 'u', 'x'))
           AND {_not_member("pg_class", "tc.oid")}
        """
    ):
        info = {"comment": comment, "columns": list(columns)}
        yield DbObject("index", name, {"definition": definition, "valid": valid}, table=table, info=info)


def _views(rows: Any) -> Iterator[DbObject]:
    for name, kind, definition, comment in rows(
        f"""
        SELECT c.relname, c.relkind, pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm') AND {_not_member("pg_class", "c.oid")}
        """
    ):
        attrs = {"materialized": kind == "m", "definition": definition}
        yield DbObject("view", name, attrs, info={"comment": comment})


_TRIGGER_ENABLED = {"O": "origin", "D": "disabled", "R": "replica", "A": "always"}


def _triggers(rows: Any) -> Iterator[DbObject]:
    for table, name, definition, enabled, comment in rows(
        f"""
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled, obj_description(t.oid, 'pg_trigger')
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND NOT t.tgisinternal AND {_not_member("pg_class", "c.oid")}
        """
    ):
        attrs = {"definition": definition, "enabled": _TRIGGER_ENABLED[enabled]}
        yield DbObject("trigger", f"{table}.{name}", attrs, table=table, info={"comment": comment})


def _policies(rows: Any) -> Iterator[DbObject]:
    for table, name, command, permissive, roles, using, check, comment in rows(
        """
        SELECT c.relname, p.polname, p.polcmd, p.polpermissive,
               ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
                       FROM unnest(p.polroles) AS r ORDER BY 1),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
               obj_description(p.oid, 'pg_policy')
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s
        """
    ):
        attrs = {
            "command": {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}[command],
            "permissive": permissive,
            "roles": list(roles),
            "using": using,
            "with_check": check,
        }
        yield DbObject("policy", f"{table}.{name}", attrs, table=table, info={"comment": comment})


_READERS = (
    _extensions,
    _types,
    _sequences,
    _functions,
    _tables,
    _columns,
    _constraints,
    _indexes,
    _views,
    _triggers,
    _policies,
)


def _golang_migrate_state(cursor: Any, rows: Any, schema: str) -> dict[str, Any] | None:
    """golang-migrate's `schema_migrations(version, dirty)`, in schema `mcp` or `public` (its default)."""
    found = rows(
        """
        SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = 'schema_migrations' AND c.relkind = 'r' AND n.nspname IN (%(schema)s, 'public')
           AND (SELECT count(*) FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attname IN ('version', 'dirty') AND NOT a.attisdropped) = 2
         ORDER BY n.nspname = %(schema)s DESC
         LIMIT 1
        """
    )
    if not found:
        return None
    table_schema = found[0][0]
    cursor.execute(f'SELECT version, dirty FROM "{table_schema}".{GOLANG_MIGRATE_TABLE} ORDER BY version DESC LIMIT 1')
    row = cursor.fetchone()
    return {
        "schema": table_schema,
        "version": row[0] if row else None,
        "dirty": bool(row[1]) if row else False,
    }
