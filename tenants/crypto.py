"""Encryption of service tokens at rest: AES-256-GCM with keys from the environment.

`SERVICE_TOKEN_KEYS` is a comma-separated list of base64 (urlsafe) 32-byte
keys; the first encrypts, all of them decrypt, so a new key is put first and
`manage.py rotate_service_tokens` re-encrypts what the older ones wrote. The
tenant id and provider are bound to each ciphertext as associated data: a
ciphertext copied to another tenant or provider no longer decrypts.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FORMAT_VERSION = 1


class TokenDecryptionError(Exception):
    """No configured key decrypts the token (a key was removed too early, or the row was tampered with)."""


@dataclass(frozen=True)
class Key:
    key_id: str
    aead: AESGCM


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def generate_key() -> str:
    """A new key for SERVICE_TOKEN_KEYS."""
    return _b64(AESGCM.generate_key(bit_length=256))


def _keys() -> list[Key]:
    keys = []
    for text in settings.SERVICE_TOKEN_KEYS:
        try:
            raw = _unb64(text.strip())
        except ValueError as error:
            raise ImproperlyConfigured("SERVICE_TOKEN_KEYS holds a value that is not base64") from error
        if len(raw) != 32:
            raise ImproperlyConfigured("each SERVICE_TOKEN_KEYS key must be 32 bytes (base64 of 32 random bytes)")
        keys.append(Key(key_id=hashlib.sha256(raw).hexdigest()[:12], aead=AESGCM(raw)))
    if not keys:
        raise ImproperlyConfigured("SERVICE_TOKEN_KEYS is empty")
    return keys


def primary_key_id() -> str:
    return _keys()[0].key_id


def _associated_data(tenant_id: str, provider: str) -> bytes:
    return f"mcpadmin:service-token:v{FORMAT_VERSION}:{tenant_id}:{provider}".encode()


def encrypt(plaintext: str, *, tenant_id: str, provider: str) -> dict[str, str | int]:
    key = _keys()[0]
    nonce = os.urandom(12)
    ciphertext = key.aead.encrypt(nonce, plaintext.encode("utf-8"), _associated_data(tenant_id, provider))
    return {"v": FORMAT_VERSION, "kid": key.key_id, "nonce": _b64(nonce), "ct": _b64(ciphertext)}


def decrypt(sealed: dict[str, str | int], *, tenant_id: str, provider: str) -> str:
    by_id = {key.key_id: key for key in _keys()}
    key = by_id.get(str(sealed.get("kid")))
    if key is None:
        raise TokenDecryptionError(f"no configured key has id {sealed.get('kid')!r}")
    try:
        plaintext = key.aead.decrypt(
            _unb64(str(sealed["nonce"])), _unb64(str(sealed["ct"])), _associated_data(tenant_id, provider)
        )
    except (InvalidTag, KeyError, ValueError) as error:
        raise TokenDecryptionError("the token does not decrypt") from error
    return plaintext.decode("utf-8")
