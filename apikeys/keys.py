"""The API key format: `mcp_<key_type>_<public id>_<secret><checksum>`.

- public id: 12 base62 characters, stored in `key_prefix`, used to find the row;
- secret: 32 base62 characters from `secrets` (190 bits);
- checksum: CRC32 of everything before it, 6 base62 characters, so that typos,
  truncations and look-alikes are rejected without touching the database
  (and secret scanners can recognise our keys).

Only the SHA-256 of the whole key is stored. A fast unsalted hash is right
here: the secret has 190 bits of entropy, so there is nothing to brute-force,
and other services sharing the database can verify keys the same way.
(A password hasher would cost ~0.5 s per request for no gain.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

PRODUCT_PREFIX = "mcp"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PUBLIC_ID_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
#: Longer header values are rejected before any parsing.
MAX_KEY_LENGTH = 128

_KEY_RE = re.compile(
    rf"^{PRODUCT_PREFIX}_(user|admin|agent|service|gateway)_"
    rf"([0-9A-Za-z]{{{PUBLIC_ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    public_id: str


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def generate(key_type: str) -> tuple[str, str]:
    """A new raw key of `key_type` and its public id."""
    public_id = _random_base62(PUBLIC_ID_LENGTH)
    body = f"{PRODUCT_PREFIX}_{key_type}_{public_id}_{_random_base62(SECRET_LENGTH)}"
    return body + _checksum(body), public_id


def parse(raw_key: str) -> ParsedKey | None:
    """The key's type and public id, or None when it is not a well-formed key with a valid checksum."""
    if len(raw_key) > MAX_KEY_LENGTH:
        return None
    match = _KEY_RE.match(raw_key)
    if match is None:
        return None
    body = raw_key[:-CHECKSUM_LENGTH]
    if not hmac.compare_digest(_checksum(body), match.group(4)):
        return None
    return ParsedKey(key_type=match.group(1), public_id=match.group(2))


def hash_key(raw_key: str) -> str:
    """Lowercase hex SHA-256 of the whole key: the only thing stored."""
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def display(key_type: str, public_id: str) -> str:
    """How a stored key is shown to people: never more than its public part."""
    return f"{PRODUCT_PREFIX}_{key_type}_{public_id}_…"
