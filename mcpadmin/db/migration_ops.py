"""Reversible RunSQL operations used by the migrations.

They are functions of their arguments only (the labels are written in each
migration), so a migration keeps doing what it did when it was written.
"""

from __future__ import annotations

from django.db import migrations

from mcpadmin.db import PLATFORM_SCHEMA


def create_enum_type(name: str, labels: list[str]) -> migrations.RunSQL:
    quoted = ", ".join("'" + label.replace("'", "''") + "'" for label in labels)
    return migrations.RunSQL(
        sql=f"CREATE TYPE {PLATFORM_SCHEMA}.{name} AS ENUM ({quoted})",
        reverse_sql=f"DROP TYPE {PLATFORM_SCHEMA}.{name}",
    )


def create_platform_schema() -> migrations.RunSQL:
    """Usually a no-op: the backend's prepare_database() creates the schema before migrating.

    The reverse keeps the schema: it may hold other services' objects.
    """
    return migrations.RunSQL(sql=f"CREATE SCHEMA IF NOT EXISTS {PLATFORM_SCHEMA}", reverse_sql=migrations.RunSQL.noop)
