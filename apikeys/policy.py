"""What each key type may do: the one place where the key-type matrix lives.

A call is allowed when (1) the tenant has not switched the service off
(`features: {"<service>": false}`), (2) the key's `allowed_services` is empty
or names the service, and (3) this matrix grants the key type the action
(`read` for GET/HEAD/OPTIONS, `write` otherwise). Rules about single objects
(an agent key works only its own tasks, a user key cancels only its own
tasks, a gateway manages only its descendants) are enforced by the services
of each domain, which receive the caller (`mcpadmin.core.actor.Actor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mcpadmin.core.access import READ, SERVICES, WRITE, KeyType
from mcpadmin.core.errors import Forbidden

_RW = frozenset({READ, WRITE})
_R = frozenset({READ})

MATRIX: dict[str, dict[str, frozenset[str]]] = {
    KeyType.ADMIN: dict.fromkeys(SERVICES, _RW),
    KeyType.GATEWAY: {
        "keys": _RW,  # child keys of type user or agent only
        "agents": _RW,
        "tasks": _RW,
        "workflows": _RW,
        "workspaces": _RW,
        "search": _RW,
    },
    KeyType.SERVICE: {"agents": _RW, "tasks": _RW, "workflows": _RW, "workspaces": _RW, "search": _RW},
    KeyType.AGENT: {
        "agents": _RW,  # itself only: heartbeat, profile
        "tasks": _RW,  # the tasks assigned to it (or shared with it by a delegation)
        "workflows": _R,
        "workspaces": _RW,  # as its membership role allows
        "search": _RW,  # search and ingest
    },
    KeyType.USER: {
        "agents": _R,
        "tasks": _RW,  # create, and cancel its own
        "workflows": _R,
        "workspaces": _R,
        "search": _R,
    },
}

#: Key types each key type may issue as children.
ISSUABLE: dict[str, frozenset[str]] = {
    KeyType.ADMIN: frozenset(KeyType.values),
    KeyType.GATEWAY: frozenset({KeyType.USER, KeyType.AGENT}),
    KeyType.SERVICE: frozenset(),
    KeyType.AGENT: frozenset(),
    KeyType.USER: frozenset(),
}


def action_for_method(method: str) -> str:
    return READ if method in ("GET", "HEAD", "OPTIONS") else WRITE


def key_type_allows(key_type: str, service: str, action: str) -> bool:
    return action in MATRIX.get(key_type, {}).get(service, frozenset())


def services_allow(allowed_services: list[str] | None, service: str) -> bool:
    """Empty (or NULL) `allowed_services` means no restriction beyond the key type."""
    return not allowed_services or service in allowed_services


def may_issue(parent_type: str, child_type: str) -> bool:
    return child_type in ISSUABLE.get(parent_type, frozenset())


@dataclass(frozen=True)
class KeyScope:
    """What a key may do, as far as issuing goes: its type, its services (empty: any) and its expiry."""

    key_type: str
    allowed_services: Sequence[str]
    expires_at: datetime | None


def issue_refusal(issuer: KeyScope, key: KeyScope) -> Forbidden | None:
    """Why `issuer` could not issue `key` today, or None: the one rule behind issuing, rotating and revoking.

    A key never holds more than the key that issued it: a type the issuer may issue, services within a
    restricted issuer's, an expiry no later than an expiring issuer's. Managing a key (rotate, revoke, rename)
    asks the same question, so that no key reaches, through another key, more than it could have issued.
    """
    if not may_issue(issuer.key_type, key.key_type):
        allowed = sorted(ISSUABLE.get(issuer.key_type, frozenset()))
        return Forbidden(
            "key_type_not_allowed",
            f"A {issuer.key_type} key may not issue or manage {key.key_type} keys.",
            {"key_type": [f"allowed: {', '.join(allowed) or 'none'}"]},
        )
    if issuer.allowed_services and (
        not key.allowed_services or not set(key.allowed_services) <= set(issuer.allowed_services)
    ):
        return Forbidden(
            "services_not_allowed",
            "A key's allowed_services must be a non-empty subset of the services of the key that issues or manages it.",
            {"allowed_services": [f"allowed: {', '.join(issuer.allowed_services)}"]},
        )
    if issuer.expires_at is not None and (key.expires_at is None or key.expires_at > issuer.expires_at):
        return Forbidden(
            "expiry_not_allowed",
            "A key cannot outlive the key that issues or manages it.",
            {"expires_at": [f"must be at most {issuer.expires_at.isoformat()}"]},
        )
    return None
