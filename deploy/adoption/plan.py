"""The plan of an adoption: its steps, how it reads, and running it all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections, transaction

from ..catalog import Catalog, read_catalog
from ..gap import SchemaGap, compare, migration_state
from ..report import describe_changes


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


def legacy_db_adopt(
    *, alias: str, plan: Plan, expected: Catalog, progress: Callable[[int, str], None] | None = None
) -> None:
    """Run `plan` in one transaction; check the result against `expected` before committing.

    Raises AdoptionFailed (after the rollback) when a step fails or a gap remains. `progress(steps done, title)`
    is called before each step and before the final check (`mcpadmin.progress.Progress` in the command).
    """
    progress = progress or (lambda done, title: None)
    connection = connections[alias]
    current = "starting the transaction"
    try:
        with transaction.atomic(using=alias):
            for done, step in enumerate(plan.steps):
                current = step.title
                progress(done, step.title)
                with connection.cursor() as cursor:
                    for statement in step.statements:
                        cursor.execute(statement)
                if step.action:
                    step.action(alias)
            current = "checking the result against the expected schema"
            progress(len(plan.steps), current)
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
