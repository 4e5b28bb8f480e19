"""After adoption, legacy keys authenticate through the real API only when the operator allows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connections

from tests.deploy.conftest import run
from tests.deploy.test_adopt_legacy_db import RAW_KEYS

BASE_DIR = Path(__file__).resolve().parents[2]
ME = (
    "import json; from rest_framework.test import APIClient\n"
    "keys = json.loads({keys!r})\n"
    "print(json.dumps({{raw: [r.status_code, r.json().get('id') or r.json().get('error', {{}}).get('code')]\n"
    "    for raw in keys for r in [APIClient().get('/api/v1/me', HTTP_AUTHORIZATION='Bearer ' + raw)]}}))\n"
)


def me_in_adopted_database(dbname: str, raw_keys: list[str], *, accept_legacy: bool) -> dict[str, list]:
    env = {
        **os.environ,
        "MCPADMIN_DB_NAME": dbname,
        "MCPADMIN_ACCEPT_LEGACY_KEYS": "true" if accept_legacy else "false",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", ME.format(keys=json.dumps(raw_keys))],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_legacy_sha256_keys_authenticate_only_when_enabled(legacy_database):
    alias = legacy_database("clean_old")
    assert run("adopt_legacy_db", "--database", alias, "--apply").code == 0
    dbname = connections[alias].settings_dict["NAME"]
    raw_keys = [*RAW_KEYS.values(), "sk_legacy_never_issued"]

    allowed = me_in_adopted_database(dbname, raw_keys, accept_legacy=True)
    for key_id, raw in RAW_KEYS.items():
        assert allowed[raw] == [200, key_id], raw
    assert allowed["sk_legacy_never_issued"] == [401, "not_authenticated"]

    refused = me_in_adopted_database(dbname, raw_keys, accept_legacy=False)
    assert all(outcome == [401, "not_authenticated"] for outcome in refused.values())


SEARCH = (
    "import json; from rest_framework.test import APIClient\n"
    "r = APIClient().post('/api/v1/search', {{'collection': 'docs', 'query': 'fox', 'mode': 'bm25'}}, format='json',\n"
    "                     HTTP_AUTHORIZATION='Bearer {key}')\n"
    "print(json.dumps([r.status_code, [hit['content'] for hit in r.json().get('results', [])]]))\n"
)


def test_the_adopted_documents_are_searchable_through_the_api(legacy_database):
    alias = legacy_database("clean_old")
    assert run("adopt_legacy_db", "--database", alias, "--apply").code == 0
    env = {**os.environ, "MCPADMIN_DB_NAME": connections[alias].settings_dict["NAME"],
           "MCPADMIN_ACCEPT_LEGACY_KEYS": "true", "ALLOWED_HOSTS": "testserver"}  # fmt: skip
    script = SEARCH.format(key=RAW_KEYS["a0000000-0000-4000-8000-000000000001"])  # tenant 1111…: the "docs" collection
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    status, contents = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 200
    assert len(contents) == 3
    assert all("fox" in content.lower() for content in contents)
