"""What the Go platform's schema meant: the only legacy knowledge adoption hard-codes.

Everything else adoption does is derived from the expected catalog (see
deploy.adoption). These are the value mappings, the fillers for NOT NULL
columns without a default and the API key rules. (Derived search data is the search app's own rebuild.)
"""

from __future__ import annotations

import uuid

#: Go platform task statuses -> task_status labels (override with --map-status old=new).
DEFAULT_STATUS_MAP = {"accepted": "assigned", "rejected": "pending", "timeout": "failed"}
#: Go platform priorities -> task_priority labels (override with --map-priority old=new).
DEFAULT_PRIORITY_MAP = {"normal": "medium"}
#: The enum types the two maps apply to (every column of that type, in any table).
STATUS_TYPE, PRIORITY_TYPE = "task_status", "task_priority"
ENUM_OPTIONS = {STATUS_TYPE: "--map-status", PRIORITY_TYPE: "--map-priority"}

#: api_keys.type (legacy) -> api_keys.key_type. Every legacy key becomes a `user` key but service keys.
LEGACY_KEY_TYPES = {"standard": "user", "personal": "user", "temporary": "user", "service": "service"}
LEGACY_TYPE_COLUMN, KEY_TYPE_COLUMN = "type", "key_type"
API_KEYS_TABLE = "api_keys"
#: A temporary legacy key without expires_at expires this long after adoption (it keeps one it has).
TEMPORARY_KEY_HOURS = 24

#: NOT NULL columns without a default: how to fill them for legacy rows (SQL on the row's columns).
NOT_NULL_FILLERS = {
    ("embeddings", "content_hash"): "encode(sha256(convert_to(content, 'UTF8')), 'hex')",
}

#: The Go platform's `embeddings` has no collection: its documents go to this collection of their tenant (override
#: with --legacy-collection NAME).
DEFAULT_LEGACY_COLLECTION = "default"
EMBEDDINGS_TABLE = "embeddings"
#: The Go platform's names: the model of a document (copied to `model`), its context (copied to metadata.context_id).
LEGACY_MODEL_COLUMN, LEGACY_CONTEXT_COLUMN = "model_name", "context_id"
#: Where the Go platform says a vector's real dimension (it pads every vector with zeros to vector(4096)): the
#: reduced dimension first, then the model's.
LEGACY_DIMENSION_COLUMNS = ("configured_dimensions", "model_dimensions")

TENANTS_TABLE, TENANT_CONFIG_TABLE = "tenants", "tenant_config"
#: Name of a tenants row created for a tenant id found in legacy rows.
LEGACY_TENANT_NAME_SQL = "'legacy-' || {id}::text"

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
#: 36**25 > 2**128: 25 base-36 digits hold any UUID, and "legacy-" + 25 = key_prefix's 32 characters.
_PREFIX_DIGITS = 25


def legacy_key_prefix(key_id: uuid.UUID) -> str:
    """The key_prefix of a legacy key: unique like its id, and never a new key's 12-character public id."""
    number, digits = key_id.int, []
    for _ in range(_PREFIX_DIGITS):
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    return "legacy-" + "".join(reversed(digits))


def parse_mapping(pairs: list[str], labels: list[str], option: str) -> dict[str, str]:
    """`["old=new", ...]` -> {old: new}; every new value must be a label of the enum type."""
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise ValueError(f"{option} {pair!r}: expected old=new")
        if new not in labels:
            raise ValueError(f"{option} {pair!r}: {new!r} is not one of {', '.join(labels)}")
        mapping[old] = new
    return mapping


#: The Go platform named the workflows' kind `workflow_type`; the schema pairs the enum with the column `type`.
WORKFLOW_TYPE_RENAME = ("workflows", "workflow_type", "type")
