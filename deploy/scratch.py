"""Scratch databases: what the code expects, built by the project's own migrations.

The expected schema is never written down by hand: the migrations are applied
to a new database of the same server, its catalog is read, and the database
is dropped again (also when anything fails). Creating it needs the CREATEDB
privilege (or superuser); the migrations hard-code schema `mcp`, so a scratch
*schema* in the same database cannot stand in for it.
"""

from __future__ import annotations

import copy
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections

#: PostgreSQL's limit for identifiers, database names included.
MAX_NAME_LENGTH = 63


class ScratchUnavailable(Exception):
    """The scratch database cannot be created or migrated: nothing can be compared."""


@contextmanager
def database_alias(dbname: str, *, based_on: str = DEFAULT_DB_ALIAS) -> Iterator[str]:
    """A connection alias for another database of the same server, valid inside the block."""
    alias = f"{based_on}:{dbname}"
    settings_dict = copy.deepcopy(connections[based_on].settings_dict)
    settings_dict["NAME"] = dbname
    connections.settings[alias] = settings_dict
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


def scratch_name(based_on: str, purpose: str) -> str:
    """`<database>_<purpose>_<pid>`: unique per process, recognisable as ours."""
    suffix = f"_{purpose}_{os.getpid()}"
    return connections[based_on].settings_dict["NAME"][: MAX_NAME_LENGTH - len(suffix)] + suffix


def can_create_databases(alias: str = DEFAULT_DB_ALIAS) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def create_database(dbname: str, *, based_on: str = DEFAULT_DB_ALIAS) -> None:
    """An empty database (from template0: nothing another tool put in template1)."""
    with connections[based_on]._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{dbname}" TEMPLATE template0')


def drop_database(dbname: str, *, based_on: str = DEFAULT_DB_ALIAS) -> None:
    with connections[based_on]._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@contextmanager
def migrated_scratch_database(based_on: str = DEFAULT_DB_ALIAS, *, purpose: str = "gap") -> Iterator[str]:
    """Yield the alias of a scratch database holding every migration of the project; drop it afterwards."""
    if not can_create_databases(based_on):
        raise ScratchUnavailable(
            "the database role needs the CREATEDB privilege (or superuser) to build the expected schema "
            "in a scratch database: ALTER ROLE <role> CREATEDB"
        )
    dbname = scratch_name(based_on, purpose)
    try:
        create_database(dbname, based_on=based_on)
    except Exception as error:
        raise ScratchUnavailable(f"could not create the scratch database {dbname}: {error}") from error
    try:
        with database_alias(dbname, based_on=based_on) as alias:
            try:
                call_command(
                    "migrate", database=alias, interactive=False, verbosity=0, skip_checks=True, stdout=io.StringIO()
                )
            except Exception as error:
                raise ScratchUnavailable(f"the migrations failed on the scratch database {dbname}: {error}") from error
            yield alias
    finally:
        drop_database(dbname, based_on=based_on)
