"""The key format: readable type, public id, ≥128-bit secret, checksum checked before any lookup."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys import keys
from apikeys.services import apikey_authenticate


@pytest.mark.parametrize("key_type", ["user", "admin", "agent", "service", "gateway"])
def test_generated_keys_parse_back_to_their_type_and_id(key_type):
    raw, public_id = keys.generate(key_type)
    assert raw.startswith(f"mcp_{key_type}_{public_id}_")
    assert keys.parse(raw) == keys.ParsedKey(key_type=key_type, public_id=public_id)


def test_the_secret_has_at_least_128_bits():
    assert keys.SECRET_LENGTH * math.log2(62) >= 128


def test_keys_are_unique():
    assert len({keys.generate("user")[0] for _ in range(2000)}) == 2000


def flip(raw: str, index: int) -> str:
    replacement = "A" if raw[index] != "A" else "B"
    return raw[:index] + replacement + raw[index + 1 :]


def test_any_changed_character_breaks_the_checksum():
    raw, _ = keys.generate("agent")
    body_start = len("mcp_agent_")
    for index in range(body_start, len(raw)):
        if raw[index] == "_":
            continue
        assert keys.parse(flip(raw, index)) is None, index


@pytest.mark.parametrize(
    "raw",
    ["", "mcp_", "mcp_root_AAAAAAAAAAAA_" + "A" * 38, "sk_live_abc", "mcp_admin_" + "A" * 200, "mcp_admin_short_x"],
)
def test_malformed_keys_are_rejected(raw):
    assert keys.parse(raw) is None


def test_the_hash_is_sha256_hex_of_the_whole_key():
    raw, _ = keys.generate("user")
    assert len(keys.hash_key(raw)) == 64
    assert keys.hash_key(raw) != keys.hash_key(raw[:-1] + ("0" if raw[-1] != "0" else "1"))


@pytest.mark.django_db
def test_a_malformed_or_forged_key_is_rejected_without_any_query():
    raw, _ = keys.generate("admin")
    forged = flip(raw, len(raw) - 10)  # valid shape, bad checksum
    with CaptureQueriesContext(connection) as queries:
        assert apikey_authenticate(forged) is None
        assert apikey_authenticate("not-a-key") is None
    assert len(queries) == 0
