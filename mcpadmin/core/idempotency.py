"""Idempotent creation (`Idempotency-Key`), once for every kind of object that has it (tasks, workflow runs).

The key is stored in the transaction that creates the object, with the
first response (one statement). A retry with the same key and body gets
that response back; with another body, 422 `idempotency_mismatch`. The
stored answer goes only to a caller that may see what was created (the
creator decides who that is: `may_replay`), so a key of the same tenant
cannot read another caller's object through it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

from mcpadmin.core.errors import Conflict, DomainError, Unprocessable, invalid
from mcpadmin.db.fields import created_at

MAX_IDEMPOTENCY_KEY_LENGTH = 255
LOCK_NOT_AVAILABLE = "55P03"


class IdempotencyRecord(models.Model):
    """A claimed `Idempotency-Key` and the first response to it; concrete tables add what was created.

    Subclasses name the foreign key to the created object in `created_field`.
    """

    created_field = ""

    idempotency_key = models.CharField(max_length=255, primary_key=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    request_fingerprint = models.CharField(max_length=64)
    #: The first response, replayed byte for byte to a retry with the same key and body.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    created_at = created_at(null=True)
    expires_at = models.DateTimeField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.idempotency_key

    @property
    def created_id(self) -> Any:
        return getattr(self, f"{self.created_field}_id")


@dataclass(frozen=True)
class Creation:
    """A created object, or the replay of the first response for the same Idempotency-Key."""

    object_id: Any
    replayed: bool
    obj: Any = None
    response_status: int | None = None
    response_body: str | None = None


@dataclass(frozen=True)
class Claim:
    """The key a creation stores, and the fingerprint of the request body."""

    record_model: type[IdempotencyRecord]
    stored_key: str
    fingerprint: str


class KeyTaken(Exception):
    """The key belongs to a committed, unexpired creation: this one is rolled back and that one replayed."""


def idempotency_storage_key(tenant_id: Any, client_key: str) -> str:
    """`<tenant id>:<sha256 hex of the client's key>`: scoped by tenant, within the spec's 255 characters."""
    return f"{tenant_id}:{hashlib.sha256(client_key.encode()).hexdigest()}"


def validate_idempotency_key(value: str) -> str:
    """1 to 255 visible ASCII characters (0x21-0x7E)."""
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH or not all("!" <= char <= "~" for char in value):
        raise invalid("Idempotency-Key", "The Idempotency-Key header must be 1 to 255 visible ASCII characters.")
    return value


def create_idempotently(
    *,
    tenant_id: Any,
    record_model: type[IdempotencyRecord],
    idempotency_key: str | None,
    fingerprint: str,
    insert: Callable[[Claim | None], Creation],
    may_replay: Callable[[IdempotencyRecord], bool],
) -> Creation:
    """Runs `insert` (which creates in one transaction and calls `claim_key` with its claim), or replays.

    Keys are scoped by `tenant_id`: a client retrying after a key rotation
    gets its object.

    Without a key, just `insert(None)`. With one, a creation refused or
    beaten by a committed one with the same key answers with that first
    response when `may_replay` says the caller may see its object, with 422
    `idempotency_key_taken` when not. The stored key is only read when the
    creation conflicts or is refused, so a new key costs one statement.
    """
    if idempotency_key is None:
        return insert(None)
    stored_key = idempotency_storage_key(tenant_id, validate_idempotency_key(idempotency_key))
    try:
        return insert(Claim(record_model, stored_key, fingerprint))
    except (DomainError, KeyTaken) as refusal:
        previous = _previous_creation(record_model, stored_key, fingerprint, refusal)
        if not may_replay(previous):
            raise Unprocessable(
                "idempotency_key_taken",
                "Another caller of this tenant used this Idempotency-Key; send this request with a new key.",
                {"Idempotency-Key": ["used by another caller"]},
            ) from refusal
        return Creation(
            object_id=previous.created_id,
            replayed=True,
            response_status=previous.response_status,
            response_body=previous.response_body,
        )


_CLAIM_KEY_SQL = """
WITH bounded_wait AS MATERIALIZED (SELECT set_config('lock_timeout', %(wait)s, true))
INSERT INTO {table} AS k (idempotency_key, {created}, tenant_id, request_fingerprint, response_status,
                          response_body, created_at, expires_at)
SELECT %(key)s, %(created_id)s, %(tenant_id)s, %(fingerprint)s, 201, %(body)s, %(now)s, %(expires_at)s FROM bounded_wait
    ON CONFLICT (idempotency_key) DO UPDATE
   SET {created} = EXCLUDED.{created}, tenant_id = EXCLUDED.tenant_id,
       request_fingerprint = EXCLUDED.request_fingerprint, response_status = EXCLUDED.response_status,
       response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
 WHERE k.expires_at <= EXCLUDED.created_at
RETURNING 1
"""


def claim_key(*, claim: Claim, created_id: Any, tenant_id: Any, body: str | None, now: datetime) -> None:
    """Records the key and the first response, in the transaction that creates the object (one statement).

    A request with the same key that has not committed yet makes this INSERT
    wait on the primary key's index entry (at most
    MCPADMIN_IDEMPOTENCY_WAIT_SECONDS, then 409 with Retry-After); once that
    one commits, the conflict raises KeyTaken and the caller replays it. If
    it rolls back instead, this INSERT goes through. An expired key is taken
    over.
    """
    model = claim.record_model
    params = {
        "wait": f"{settings.MCPADMIN_IDEMPOTENCY_WAIT_SECONDS}s",
        "key": claim.stored_key,
        "created_id": created_id,
        "tenant_id": tenant_id,
        "fingerprint": claim.fingerprint,
        "body": body,
        "now": now,
        "expires_at": now + timedelta(seconds=settings.MCPADMIN_IDEMPOTENCY_TTL_SECONDS),
    }
    sql = _CLAIM_KEY_SQL.format(table=model._meta.db_table, created=f"{model.created_field}_id")
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            claimed = cursor.fetchone() is not None
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise _in_flight() from error
    if not claimed:
        raise KeyTaken


def _previous_creation(
    record_model: type[IdempotencyRecord], stored_key: str, fingerprint: str, refusal: Exception
) -> IdempotencyRecord:
    """The stored first creation for a key whose creation was refused or lost the race; re-raises otherwise.

    A retry of a creation that succeeded is answered by that creation, even
    if the same body would be refused now (its agent was disabled since, for
    instance). The same key with another body is 422.
    """
    previous = record_model.objects.filter(idempotency_key=stored_key, expires_at__gt=timezone.now()).first()
    if previous is None:
        if isinstance(refusal, KeyTaken):  # it expired or its object was deleted a moment ago
            raise _in_flight() from refusal
        raise refusal
    if previous.request_fingerprint != fingerprint:
        raise Unprocessable(
            "idempotency_mismatch",
            "This Idempotency-Key was used with a different request body.",
            {"Idempotency-Key": ["already used with a different request body"]},
        ) from refusal
    return previous


def _in_flight() -> Conflict:
    return Conflict(
        "idempotency_in_flight",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        retry_after=1,
    )


def record_models() -> list[type[IdempotencyRecord]]:
    """Every table of stored keys (each app with idempotent creation has one)."""
    return [model for model in apps.get_models() if issubclass(model, IdempotencyRecord)]


_PURGE_SQL = """
DELETE FROM {table}
 WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM {table}
        WHERE expires_at <= %s
        LIMIT %s
          FOR UPDATE SKIP LOCKED))
"""


def idempotency_key_purge_expired(
    *, now: datetime | None = None, batch_size: int = 1000, progress: Callable[[int, str], None] | None = None
) -> int:
    """Deletes expired keys of every table, `batch_size` per transaction (short locks); returns how many.

    Safe to run concurrently: each batch locks its rows with SKIP LOCKED, so
    two purgers delete disjoint rows and never wait for each other.
    """
    now = now or timezone.now()
    total = 0
    for model in record_models():
        table = model._meta.db_table
        deleted_here = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_PURGE_SQL.format(table=table), [now, batch_size])
                deleted = cursor.rowcount
            deleted_here += deleted
            if progress is not None:
                progress(deleted_here, table)
            if deleted < batch_size:
                break
        total += deleted_here
    return total
