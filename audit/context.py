"""Who is writing: the pghistory context that every audit event is stamped with.

`pghistory.context(...)` prefixes each write statement run inside it with
`set_config('pghistory.context_id' / 'pghistory.context_metadata', ..., true)` (local to the transaction), and
the audit triggers (`audit.tracking`) copy the metadata into the event. It is opened in one place per door:

- HTTP: `audit.middleware.AuditContextMiddleware` opens one per request (request id, client address) and names
  the operator of an admin page; API authentication adds the key (`add_actor`, `mcpadmin/api/auth.py`);
- management commands (the workers too): `mcpadmin.management.base.AuditedCommand` opens one per run.

Writes outside any context (another service's plain SQL, a migration) are recorded without an actor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pghistory
from django.db import connection

from mcpadmin.core.actor import Actor

API = "api"
ADMIN = "admin"
COMMAND = "command"


_FORGET_SQL = "SELECT set_config('pghistory.context_id', '', true), set_config('pghistory.context_metadata', '', true)"


@contextmanager
def audit_context(**metadata: Any) -> Iterator[None]:
    """The writes inside the block carry `metadata` (None values are left out).

    pghistory's settings are local to the transaction: left inside a transaction that goes on (`atomic()`
    around the block), they would still name this writer for the writes after it, so they are cleared on the
    way out. (A context still open further out sets its own again before its next statement.)
    """
    with pghistory.context(**{name: value for name, value in metadata.items() if value is not None}):
        yield
    if connection.in_atomic_block and not connection.needs_rollback:
        with connection.cursor() as cursor:
            cursor.execute(_FORGET_SQL)


def request_context(*, request_id: str, client_ip: str) -> Any:
    """The context of one HTTP request. Unlike `audit_context` it does not clear the settings on the way out: a
    request never runs inside a transaction that outlives it (no ATOMIC_REQUESTS), so there is nothing to clear,
    and the API's query ceilings stay what they are (a test's transaction, which does outlive the request, keeps
    the request's context for its later writes)."""
    return pghistory.context(request_id=request_id, client_ip=client_ip)


def add_actor(actor: Actor) -> None:
    """Name an API key as the writer of the open context (nothing happens outside one)."""
    if actor.key_id is not None:
        pghistory.context(source=API, key_id=str(actor.key_id), key_type=actor.key_type)


def add_operator(username: str, user_id: int | None) -> None:
    """Name the logged-in operator of an admin request as the writer of the open context."""
    pghistory.context(source=ADMIN, operator=username, user_id=user_id)


def command_context(name: str) -> Any:
    """The context of a management command run (`name`: the command's name)."""
    return audit_context(source=COMMAND, operator=name)
