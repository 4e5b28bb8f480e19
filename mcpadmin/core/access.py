"""Key types and service names: the vocabulary of who may call what, shared by every layer.

The key-type matrix itself (which type may read or write which service) is
`apikeys.policy`; workspaces' roles are `workspaces.policy`.
"""

from __future__ import annotations

from django.db import models


class KeyType(models.TextChoices):
    """The spec's `key_type` values (a VARCHAR with a CHECK, not an enum type)."""

    USER = "user"
    ADMIN = "admin"
    AGENT = "agent"
    SERVICE = "service"
    GATEWAY = "gateway"


#: Key types that act with the tenant's authority: anything within their tenant, every workspace as its owner.
TENANT_AUTHORITY_KEY_TYPES = frozenset({KeyType.ADMIN, KeyType.SERVICE, KeyType.GATEWAY})

#: One service name per API area; every endpoint declares one.
SERVICES = ("keys", "tenant-config", "agents", "tasks", "workflows", "workspaces", "search", "audit")
#: What an endpoint about the calling key itself (`/me`) declares instead: any valid key may call it.
KEY_ITSELF = "key-itself"

#: What a call does in a service: GET, HEAD and OPTIONS read, everything else writes.
READ = "read"
WRITE = "write"
