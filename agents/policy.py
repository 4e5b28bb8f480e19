"""Who may write which field of an agent: the field table (see `mcpadmin.core.fields`).

An agent key reaches only its own agent. It edits its profile (name, description, metadata) and beats
(`agent_heartbeat`), never what widens what it sees or receives: `teams` decide which `team` workspaces (and
their tasks and collections) it reads, `capabilities` which workflow tasks it is given, `status` whether it
works at all. Those are the tenant's to set.
"""

from __future__ import annotations

from mcpadmin.core.access import KeyType
from mcpadmin.core.fields import TENANT_AUTHORITY, FieldWriters

_PROFILE = frozenset({*TENANT_AUTHORITY, KeyType.AGENT})

AGENT_FIELD_WRITERS: FieldWriters = {
    "name": _PROFILE,
    "description": _PROFILE,
    "metadata": _PROFILE,
    "capabilities": TENANT_AUTHORITY,
    "teams": TENANT_AUTHORITY,
    "status": TENANT_AUTHORITY,
}
