"""How a schema gap is shown: text for people (one object per line, grouped), JSON for machines."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog, DbObject
from .ddl import column_definition
from .gap import Difference, SchemaGap, describe_golang_migrate


def describe(obj: DbObject, catalog: Catalog) -> str:
    """One line that says what the object is."""
    a = obj.attrs
    match obj.kind:
        case "extension":
            return f"version {a['version']} in schema {a['schema']}"
        case "type":
            return f"enum ({', '.join(a['enum'])})" if "enum" in a else f"domain over {a['domain']}"
        case "sequence":
            return a["data_type"]
        case "function":
            return f"{a['kind']} returning {a['result']}, {a['language']}, {a['volatility']}"
        case "table":
            return f"{len(catalog.on_table(obj.name, 'column'))} columns"
        case "column":
            return column_definition(obj, catalog).split(" ", 1)[1]
        case "constraint":
            return a["definition"]
        case "index":
            return a["definition"] + ("" if a["valid"] else "  [INVALID]")
        case "view":
            return "materialized view" if a["materialized"] else "view"
        case "trigger":
            return a["definition"]
        case "policy":
            using = f" USING ({a['using']})" if a["using"] is not None else ""
            check = f" WITH CHECK ({a['with_check']})" if a["with_check"] is not None else ""
            return f"{a['command']} TO {', '.join(a['roles'])}{using}{check}"
    raise ValueError(obj.kind)


def describe_changes(difference: Difference) -> str:
    parts = []
    for attr, (actual, expected) in difference.changes.items():
        if attr == "valid":
            parts.append("INVALID: left by a failed CREATE INDEX CONCURRENTLY (drop it and build it again)")
        elif attr == "body":
            parts.append("body differs")
        else:
            parts.append(f"{attr} {_value(actual)} (expected {_value(expected)})")
    return "; ".join(parts)


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return _one_line(str(value))


def _one_line(text: str) -> str:
    """Definitions (views, bodies) span lines; the report has one object per line."""
    return " ".join(text.split())


def _line(obj: DbObject, catalog: Catalog) -> str:
    return f"{obj.kind} {obj.name}: {_one_line(describe(obj, catalog))}"


def render_text(gap: SchemaGap, database: str) -> str:
    lines = [f'Schema gap of database "{database}" (schema {gap.actual.schema}) against the project\'s migrations']
    groups = [
        ("missing", [_line(obj, gap.expected) for obj in gap.reported(gap.missing)]),
        ("extra", [_line(obj, gap.actual) for obj in gap.reported(gap.extra)]),
        ("different", [f"{d.kind} {d.name}: {describe_changes(d)}" for d in gap.different]),
        ("migrations", gap.migrations.problems),
        (
            "kept on purpose (marked mcpadmin:keep), not a gap",
            [_line(obj, gap.actual) for obj in gap.reported(gap.kept)],
        ),
    ]
    for title, entries in groups:
        if entries:
            lines.append(f"{title} ({len(entries)}):")
            lines.extend(f"  {entry}" for entry in entries)
    golang = gap.migrations.golang_migrate
    if golang and not golang["dirty"]:
        lines.append(f"note: {describe_golang_migrate(golang)} (history only)")
    lines.append(f"result: {summary(gap)}")
    return "\n".join(lines) + "\n"


def summary(gap: SchemaGap) -> str:
    if not gap.has_gap:
        return "no gap"
    counts = [
        (len(gap.reported(gap.missing)), "missing"),
        (len(gap.reported(gap.extra)), "extra"),
        (len(gap.different), "different"),
        (len(gap.migrations.problems), "migration problem(s)"),
    ]
    return "gap: " + ", ".join(f"{count} {label}" for count, label in counts if count)


def render_json(gap: SchemaGap, database: str) -> dict[str, Any]:
    def entry(obj: DbObject, catalog: Catalog) -> dict[str, Any]:
        return {"kind": obj.kind, "name": obj.name, "table": obj.table, "definition": describe(obj, catalog)}

    return {
        "database": database,
        "schema": gap.actual.schema,
        "gap": gap.has_gap,
        "missing": [entry(obj, gap.expected) for obj in gap.reported(gap.missing)],
        "extra": [entry(obj, gap.actual) for obj in gap.reported(gap.extra)],
        "different": [
            {
                "kind": d.kind,
                "name": d.name,
                "changes": {
                    attr: {"actual": actual, "expected": expected} for attr, (actual, expected) in d.changes.items()
                },
            }
            for d in gap.different
        ],
        "kept": [entry(obj, gap.actual) for obj in gap.reported(gap.kept)],
        "migrations": {
            "not_applied": gap.migrations.not_applied,
            "not_in_code": gap.migrations.not_in_code,
            "golang_migrate": gap.migrations.golang_migrate,
            "problems": gap.migrations.problems,
        },
    }
