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

from mcpadmin.core.access import READ, SERVICES, WRITE, KeyType

_RW = frozenset({READ, WRITE})
_R = frozenset({READ})

MATRIX: dict[str, dict[str, frozenset[str]]] = {
    KeyType.ADMIN: dict.fromkeys(SERVICES, _RW) | {"audit": _R},  # the audit trail is written by triggers only
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
