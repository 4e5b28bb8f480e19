"""Whether the database answers, as this process last saw it: an outage is a state, not a bug per request.

While the database is unreachable (its server killed, stopped, restarting,
out of connections), every request that touches it fails the same way. The
API answers those `503` with `Retry-After` (`mcpadmin/api/errors.py`), and
this module logs one line when the process sees the database go and one when
it comes back, instead of a traceback per request.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import psycopg

logger = logging.getLogger(__name__)

#: What a 503 tells the client to wait; the embedded server's crash recovery takes 0.5-2 s.
RETRY_AFTER_SECONDS = 2

#: SQLSTATEs that mean "the server does not serve now" rather than "this statement failed": class 08 (connection
#: exception), admin/crash shutdown, "the database system is starting up / shutting down", too many connections.
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})

_lock = threading.Lock()
_down_since: float | None = None


def is_unavailable(error: BaseException) -> bool:
    """Is `error` (a psycopg error, or Django's wrapper of one) the database being unreachable?

    A psycopg OperationalError without SQLSTATE is a failure of the connection itself (no server on the socket,
    "server closed the connection unexpectedly"); one with a SQLSTATE of class 08 or of
    `UNAVAILABLE_SQLSTATES` comes from a server that will not serve. A deadlock, a lock or statement timeout are
    OperationalErrors too, but of one statement: not an outage.
    """
    cause = error if isinstance(error, psycopg.Error) else error.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES


def is_down() -> bool:
    return _down_since is not None


def note_down(error: BaseException) -> None:
    """Record that the database is unreachable; logs only when it was reachable until now."""
    global _down_since
    with _lock:
        if _down_since is not None:
            return
        _down_since = time.monotonic()
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    logger.warning("database unavailable: %s (process %d answers 503 until it is back)", reason, os.getpid())


def note_up() -> None:
    """Record that a connection succeeded; logs only when the database was unreachable until now."""
    global _down_since
    if _down_since is None:  # the common case: no lock on every new connection
        return
    with _lock:
        since, _down_since = _down_since, None
    if since is not None:
        logger.warning("database available again after %.1f s (process %d)", time.monotonic() - since, os.getpid())
