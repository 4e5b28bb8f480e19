"""Databases of their own for the deployment tools: migrated copies and legacy ones, dropped afterwards.

Each test database lives on the same server as the test database and is
reached through a temporary connection alias (deploy.scratch.database_alias),
so the commands run in-process exactly as `manage.py <command> --database`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from deploy.scratch import create_database, database_alias, drop_database
from mcpadmin.db.pgtools import bin_path, libpq_env

LEGACY_DIR = Path(__file__).resolve().parent.parent / "legacy"
LEGACY_FIXTURES = ["clean_old", "dirty_half_built", "unmappable_values", "extra_columns"]


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(command: str, *args: str) -> Result:
    """Run a management command in-process; its exit status as the shell would see it."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return Result(code, out.getvalue(), err.getvalue())


def execute(alias: str, statement: str, params: list[object] | None = None) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


_sequence = itertools.count(1)


def _unique(label: str) -> str:
    return f"mcpadmin_test_{label}_{os.getpid()}_{next(_sequence)}"


@pytest.fixture(scope="session")
def migrated_template(django_db_blocker) -> Iterator[str]:
    """A database migrated once per session, copied by `migrated_database`."""
    name = _unique("template")
    with django_db_blocker.unblock():
        create_database(name)
        with database_alias(name) as alias:
            call_command("migrate", database=alias, verbosity=0, interactive=False, stdout=io.StringIO())
    yield name
    with django_db_blocker.unblock():
        drop_database(name)


@pytest.fixture
def new_database(django_db_blocker) -> Iterator[Callable[..., str]]:
    """`new_database(template=None)` -> the alias of a new database, empty or a copy of `template`."""
    with django_db_blocker.unblock(), contextlib.ExitStack() as stack:

        def make(template: str = "template0") -> str:
            name = _unique("db")
            with connections["default"]._nodb_cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            stack.callback(drop_database, name)
            return stack.enter_context(database_alias(name))

        yield make


@pytest.fixture
def migrated_database(new_database: Callable[..., str], migrated_template: str) -> str:
    return new_database(migrated_template)


@pytest.fixture
def legacy_database(new_database: Callable[..., str]) -> Callable[[str], str]:
    """`legacy_database("dirty_half_built")` -> alias of a new database loaded from tests/legacy/<name>.sql."""

    def load(fixture: str) -> str:
        alias = new_database()
        dbname = connections[alias].settings_dict["NAME"]
        subprocess.run(
            [str(bin_path("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(LEGACY_DIR / f"{fixture}.sql")],
            env=libpq_env(alias, dbname),
            check=True,
            capture_output=True,
            text=True,
        )
        return alias

    return load
