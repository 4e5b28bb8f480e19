"""Migration round trip on a populated database (`make roundtrip`, part of `make test`).

On a scratch database of the configured server: migrate; put rows in every
table; unapply every app of the project down to zero; check that nothing of
the platform is left; migrate again and check that the schema is identical
to the first one (pg_dump of schema `mcp`); fill it again. Each step runs
`manage.py` in its own process, as a deployment would.

    python -m tests.roundtrip              # the whole round trip
    python -m tests.roundtrip populate     # (used by the round trip) fill every table
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
#: Unapplied one by one, dependents first; `migrate <app> zero` also unapplies what depends on it.
PROJECT_APPS = ["search", "tasks", "apikeys", "tenants"]


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")
    sys.path.insert(0, str(BASE_DIR))
    django.setup()


def _manage(scratch: str, *args: str) -> None:
    env = {**os.environ, "MCPADMIN_DB_NAME": scratch, "PYTHONWARNINGS": "ignore"}
    started = time.monotonic()
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, check=True, cwd=BASE_DIR)
    print(f"  ok  manage.py {' '.join(args)}  ({time.monotonic() - started:.1f} s)", flush=True)


def _leftovers(dbname: str) -> list[str]:
    """Platform objects still in schema mcp once every app is at zero (Django's and django-axes' tables may stay)."""
    import psycopg

    from mcpadmin.db.pgtools import libpq_env

    env = libpq_env(dbname=dbname)
    with psycopg.connect(
        host=env.get("PGHOST"), port=env.get("PGPORT"), user=env.get("PGUSER"), password=env.get("PGPASSWORD"),
        dbname=dbname,
    ) as conn:  # fmt: skip
        rows = conn.execute(
            """
            SELECT 'table ' || tablename FROM pg_tables
             WHERE schemaname = 'mcp' AND tablename !~ '^(auth_|django_|axes_)'
            UNION ALL
            SELECT 'type ' || typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'mcp' AND t.typtype = 'e'
            UNION ALL
            SELECT 'function ' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'mcp'
            """
        ).fetchall()
    return [row[0] for row in rows]


def run() -> int:
    _setup()
    from django.conf import settings
    from django.db import connection

    from mcpadmin.db.pgtools import pg_dump_schema

    scratch = f"{settings.DATABASES['default']['NAME']}_roundtrip"
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    print(f"migration round trip on database {scratch}")
    try:
        _manage(scratch, "migrate", "--noinput", "-v0")
        first_schema = pg_dump_schema(dbname=scratch)
        _manage(
            scratch,
            "shell",
            "--no-imports",
            "-c",
            "from tests.roundtrip import populate_and_check; populate_and_check()",
        )
        for app in PROJECT_APPS:
            _manage(scratch, "migrate", app, "zero", "--noinput", "-v0")
        leftovers = _leftovers(scratch)
        if leftovers:
            print(f"FAILED: still present after migrating every app to zero: {', '.join(leftovers)}")
            return 1
        _manage(scratch, "migrate", "--noinput", "-v0")
        second_schema = pg_dump_schema(dbname=scratch)
        if first_schema != second_schema:
            import difflib

            diff = difflib.unified_diff(first_schema.splitlines(), second_schema.splitlines(), lineterm="", n=1)
            print("FAILED: the schema after the round trip differs from the first one:\n" + "\n".join(diff))
            return 1
        _manage(
            scratch,
            "shell",
            "--no-imports",
            "-c",
            "from tests.roundtrip import populate_and_check; populate_and_check()",
        )
        _manage(scratch, "makemigrations", "--check", "--dry-run", "-v0")
    except subprocess.CalledProcessError as error:
        print(f"FAILED: {' '.join(error.cmd[1:])} exited with {error.returncode}")
        return 1
    finally:
        connection.close()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    print("migration round trip: ok")
    return 0


def populate_and_check() -> None:
    from tests.sample_data import empty_tables, populate

    populate()
    empty = empty_tables()
    if empty:
        raise SystemExit(f"tables without rows (extend tests/sample_data.py): {', '.join(empty)}")
    print("  every table of schema mcp holds rows")


if __name__ == "__main__":
    raise SystemExit(run())
