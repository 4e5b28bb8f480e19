"""Field-level rules: which callers may write which field of a model, as one table per model.

Each app keeps its table in its `policy.py` (`agents.policy.AGENT_FIELD_WRITERS`, ...): a field maps to the
callers that may set it — key types, and `OPERATOR` for operators, commands and the workflow engine. A field
missing from the table is written by nobody through a service. The services ask `field_refusal` before they
write, so the API, the admin and commands cannot disagree; tests are generated from the tables, cell by cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mcpadmin.core.access import TENANT_AUTHORITY_KEY_TYPES, KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden

#: Operators (the admin), management commands and the workflow engine: no key, every tenant.
OPERATOR = "operator"
#: Callers with the tenant's authority: admin, service and gateway keys, and operators.
TENANT_AUTHORITY = frozenset({*TENANT_AUTHORITY_KEY_TYPES, OPERATOR})
EVERY_CALLER = frozenset({*KeyType.values, OPERATOR})

FieldWriters = Mapping[str, frozenset[str]]


def caller_kind(actor: Actor) -> str:
    """The column of a field table that `actor` reads: its key type, or OPERATOR."""
    return OPERATOR if actor.is_operator or actor.key_type is None else actor.key_type


def field_refusal(table: FieldWriters, actor: Actor, fields: Iterable[str], *, what: str) -> Forbidden | None:
    """A refusal naming every field of `fields` that `actor` may not write, or None."""
    kind = caller_kind(actor)
    refused = sorted(name for name in fields if kind not in table.get(name, frozenset()))
    if not refused:
        return None
    return Forbidden(
        "field_not_allowed",
        f"{kind.capitalize()} callers may not change {', '.join(refused)} of {what}.",
        {name: [f"not writable by {kind} callers"] for name in refused},
    )
