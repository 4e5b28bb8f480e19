"""Operations on API keys: the one place that issues, revokes, rotates and authenticates them.

Hierarchy rules (a child never has more than its parent): the parent must be
usable (active, not revoked, not expired) and of the same tenant; its key
type must be allowed to issue the child's (`policy.ISSUABLE`); a restricted
parent's `allowed_services` bound the child's; the child expires no later
than the parent. Revoking a key revokes all its descendants in the same
transaction.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentStatus
from apikeys import keys, policy
from apikeys.models import ApiKey
from apikeys.selectors import apikey_is_descendant, apikey_with_tenant
from mcpadmin.core.access import SERVICES, KeyType
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, DomainError, Forbidden, invalid
from mcpadmin.core.validation import UNSET, clean_object
from tenants.models import Tenant

DEFAULT_ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=30)
#: `last_used_at` is written at most this often per key.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedKey:
    """A newly issued key: `raw_key` exists only here, once."""

    key: ApiKey
    raw_key: str


def key_is_usable(key: ApiKey, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return key.is_active and key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


def validate_allowed_services(services: Any) -> list[str]:
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise invalid("allowed_services", "allowed_services must be a list of service names")
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise DomainError(
            "invalid",
            f"Unknown service(s): {', '.join(unknown)}; the services are {', '.join(SERVICES)}.",
            {"allowed_services": [f"unknown service {name!r}" for name in unknown]},
        )
    return sorted(set(services), key=SERVICES.index)


def _lock_for_issuing(parent: ApiKey) -> ApiKey:
    """FOR SHARE: a concurrent revocation of the parent waits for this issuance, and then revokes the child too."""
    locked = list(ApiKey.objects.raw("SELECT * FROM api_keys WHERE id = %s FOR SHARE", [parent.pk]))
    if not locked:
        raise Conflict("parent_unusable", "The parent key does not exist any more.")
    return locked[0]


#: Metadata that rotation writes and only rotation may change: refused in what clients send.
ROTATION_LINKS = ("rotated_from", "rotated_to")


def client_metadata(metadata: Any) -> dict[str, Any] | None:
    """Metadata a caller gives a key: an object, without the names the platform writes (the rotation links)."""
    if metadata is None:
        return None
    clean_object(metadata, "metadata")
    reserved = [name for name in ROTATION_LINKS if name in metadata]
    if reserved:
        raise DomainError(
            "invalid",
            f"metadata.{reserved[0]} is written by key rotation only.",
            {f"metadata.{name}": ["reserved: written by key rotation only"] for name in reserved},
        )
    return metadata


def scope_of(key: ApiKey) -> policy.KeyScope:
    return policy.KeyScope(key.key_type, list(key.allowed_services or []), key.expires_at)


def apikey_check_manages(actor: Actor, key: ApiKey) -> None:
    """May `actor` rotate, revoke or rename `key`? Itself, or a descendant it could issue today.

    Operators and commands manage every key. A key never manages its ancestors or siblings, even an admin
    key that sees every key of its tenant: otherwise a restricted key would rotate its parent and receive
    the parent's powers as the raw successor.
    """
    if actor.is_operator:
        return
    actor.check_tenant(key.tenant_id)
    if key.pk == actor.key_id:
        return
    if not apikey_is_descendant(key.pk, actor.key_id):
        raise Forbidden(
            "not_a_descendant",
            "A key manages only itself and the keys issued under it, never its ancestors or siblings.",
        )
    refusal = policy.issue_refusal(scope_of(actor.key), scope_of(key))
    if refusal is not None:
        raise refusal


@transaction.atomic
def apikey_issue(
    *,
    tenant: Tenant,
    name: str,
    key_type: str,
    parent: ApiKey | None = None,
    allowed_services: list[str] | None = None,
    expires_at: datetime | None = None,
    agent: Agent | None = None,
    metadata: dict[str, Any] | None = None,
) -> IssuedKey:
    """Issues a key; the raw key is in the result and nowhere else, ever. `parent=None` is an operator's root key."""
    now = timezone.now()
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise invalid("name", "A key needs a name of 1 to 255 characters.")
    if key_type not in KeyType.values:
        raise invalid("key_type", f"key_type must be one of {', '.join(KeyType.values)}.")
    services = validate_allowed_services(allowed_services) if allowed_services is not None else None
    metadata = client_metadata(metadata)

    if parent is not None:
        parent = _lock_for_issuing(parent)
        if parent.tenant_id != tenant.id:
            raise Forbidden("cross_tenant", "A key can only issue keys of its own tenant.")
        if not key_is_usable(parent, now=now):
            raise Conflict("parent_unusable", "A revoked, inactive or expired key cannot issue keys.")
        if parent.allowed_services and services is None:
            services = list(parent.allowed_services)
        if parent.expires_at is not None and expires_at is None:
            expires_at = parent.expires_at
        refusal = policy.issue_refusal(scope_of(parent), policy.KeyScope(key_type, services or [], expires_at))
        if refusal is not None:
            raise refusal
    if expires_at is not None and expires_at <= now:
        raise invalid("expires_at", "expires_at must be in the future.")

    if key_type == KeyType.AGENT:
        if agent is None:
            raise invalid("agent_id", "An agent key names the agent it acts as.")
        if agent.tenant_id != tenant.id:
            raise invalid("agent_id", "No such agent.")
        if agent.status != AgentStatus.ACTIVE:
            raise Conflict("agent_disabled", "A disabled agent cannot get keys.", {"agent_id": [str(agent.id)]})
    elif agent is not None:
        raise invalid("agent_id", "Only agent keys act as an agent.")

    raw_key, public_id = keys.generate(key_type)
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        key_type=key_type,
        key_prefix=public_id,
        key_hash=keys.hash_key(raw_key),
        parent_key=parent,
        allowed_services=services or [],
        expires_at=expires_at,
        agent=agent,
        metadata=metadata or {},
    )
    return IssuedKey(key=key, raw_key=raw_key)


#: The key, its descendants and its rotation successors (whose children were moved under them), transitively.
_REVOKE_TREE_SQL = """
WITH RECURSIVE tree AS (
    SELECT id, metadata ->> 'rotated_to' AS successor FROM api_keys WHERE id = %s
    UNION
    SELECT k.id, k.metadata ->> 'rotated_to' FROM api_keys k JOIN tree
        ON k.parent_key_id = tree.id OR k.id::text = tree.successor
)
UPDATE api_keys SET is_active = false, revoked_at = %s, updated_at = %s
 WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
"""


@transaction.atomic
def apikey_revoke(*, actor: Actor, key: ApiKey) -> int:
    """Revokes the key, every descendant and every rotation successor; returns how many this call revoked.

    Irreversible. Successors go too: rotating a stolen key and then revoking it must not leave the thief's
    successor (or the children moved under it) working.

    The root is locked first so that an issuance under it finishes (or waits
    and then fails). The tree update repeats until it finds nothing: each
    statement sees children committed while the previous one ran, so a child
    issued concurrently under a descendant is revoked as well.
    """
    apikey_check_manages(actor, key)
    ApiKey.objects.select_for_update().filter(pk=key.pk).exists()
    now = timezone.now()
    total = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(_REVOKE_TREE_SQL, [key.pk, now, now])
            if cursor.rowcount == 0:
                break
            total += cursor.rowcount
    key.refresh_from_db()
    return total


@transaction.atomic
def apikey_rotate(*, actor: Actor, key: ApiKey, grace_period: timedelta = DEFAULT_ROTATION_GRACE) -> IssuedKey:
    """A new key with the same settings and parent; the old one works for `grace_period` more (0: stops now).

    The old key's children move under the new key, so that they outlive the
    old one and revoking the new key still revokes them. A key is rotated
    once: its successor is the one to rotate next (two rotations, concurrent
    or not, would leave two live successors and the children under only one). Only a key that may manage
    `key` (`apikey_check_manages`) rotates it: the raw successor has all of `key`'s powers.
    """
    apikey_check_manages(actor, key)
    if grace_period < timedelta(0) or grace_period > MAX_ROTATION_GRACE:
        raise invalid("grace_period_seconds", f"The grace period is 0 to {MAX_ROTATION_GRACE.days} days.")
    old = ApiKey.objects.select_for_update().get(pk=key.pk)
    now = timezone.now()
    if not key_is_usable(old, now=now):
        raise Conflict("key_unusable", "A revoked, inactive or expired key cannot be rotated.")
    successor = (old.metadata or {}).get("rotated_to")
    if successor:
        raise Conflict(
            "key_already_rotated",
            f"This key was already rotated; rotate its successor {successor} instead.",
            {"rotated_to": successor},
        )
    raw_key, public_id = keys.generate(old.key_type)
    new = ApiKey.objects.create(
        tenant_id=old.tenant_id,
        name=old.name,
        key_type=old.key_type,
        key_prefix=public_id,
        key_hash=keys.hash_key(raw_key),
        parent_key_id=old.parent_key_id,
        allowed_services=list(old.allowed_services or []),
        expires_at=old.expires_at,
        agent_id=old.agent_id,
        metadata={**(old.metadata or {}), "rotated_from": str(old.id)},
    )
    ApiKey.objects.filter(parent_key=old).update(parent_key=new, updated_at=now)
    grace_end = now + grace_period
    old.expires_at = grace_end if old.expires_at is None else min(old.expires_at, grace_end)
    old.metadata = {**(old.metadata or {}), "rotated_to": str(new.id)}
    old.save(update_fields=["expires_at", "metadata", "updated_at"])
    return IssuedKey(key=new, raw_key=raw_key)


@transaction.atomic
def apikey_rename(*, actor: Actor, key: ApiKey, name: str, metadata: dict[str, Any] | None = UNSET) -> ApiKey:
    """The only things that change on a key; everything else is fixed at issue (rotate to change it)."""
    apikey_check_manages(actor, key)
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise invalid("name", "A key needs a name of 1 to 255 characters.")
    stored = ApiKey.objects.select_for_update().get(pk=key.pk)
    stored.name = name
    if metadata is not UNSET:
        metadata = client_metadata(metadata) or {}
        # The rotation links are the platform's, not the caller's: a rotated key stays rotated (and its
        # successor keeps its origin) whatever metadata replaces the rest.
        links = {link: value for link, value in (stored.metadata or {}).items() if link in ROTATION_LINKS}
        stored.metadata = {**metadata, **links}
    stored.save(update_fields=["name", "metadata", "updated_at"])
    key.name, key.metadata, key.updated_at = stored.name, stored.metadata, stored.updated_at
    return key


def apikey_authenticate(raw_key: str) -> ApiKey | None:
    """The usable key that `raw_key` is, or None. Malformed keys never reach the database.

    Unknown, wrong, expired, revoked, inactive and inactive-tenant keys are
    all just None, so callers cannot tell them apart.
    """
    parsed = keys.parse(raw_key)
    if parsed is not None:
        key = apikey_with_tenant(key_prefix=parsed.public_id)
        if key is None or key.key_type != parsed.key_type:
            return None
    elif settings.MCPADMIN_ACCEPT_LEGACY_KEYS and 0 < len(raw_key) <= keys.MAX_KEY_LENGTH:
        # Keys of the legacy platform (see docs, "Deploying and upgrading"): found by their SHA-256.
        key = apikey_with_tenant(key_hash=keys.hash_key(raw_key))
        if key is None:
            return None
    else:
        return None
    if not hmac.compare_digest(key.key_hash, keys.hash_key(raw_key)):
        return None
    if not key_is_usable(key) or not key.tenant.is_active:
        return None
    apikey_touch(key)
    return key


def apikey_touch(key: ApiKey) -> None:
    """Records use at most once a minute per key, so that authentication rarely writes."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION), pk=key.pk
    ).update(last_used_at=now)
    key.last_used_at = now


def key_state(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if not key.is_active:
        return "inactive"
    if not key_is_usable(key):
        return "expired"
    return "active"
