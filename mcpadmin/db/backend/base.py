"""PostgreSQL backend of mcpadmin: Django's own, plus three things it lacks.

- The embedded server: when the settings carry `EMBEDDED_PGDATA`, the server
  is started (or joined) on the first connection, not at import time, so
  commands that never touch the database never start PostgreSQL.
- The platform schema: `prepare_database()` (run by `migrate` before anything
  else, including the creation of `django_migrations`) creates schema `mcp`,
  so every table lands there through the connection's search_path.
- Database-level ON DELETE: see `schema.DatabaseSchemaEditor`.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from mcpadmin.db import PLATFORM_SCHEMA
from mcpadmin.embedded_db import ensure_server

from .schema import DatabaseSchemaEditor


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        pgdata = self.settings_dict.get("EMBEDDED_PGDATA")
        if pgdata:
            # Only the configured database is created on demand; Django creates
            # (and drops) test databases itself through the "postgres" database.
            configured = self.settings_dict["NAME"]
            server = ensure_server(pgdata, database=configured if params.get("dbname") == configured else None)
            params["host"] = server.socket_dir
            params["port"] = server.port
        return params

    def prepare_database(self) -> None:
        super().prepare_database()
        with self.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [PLATFORM_SCHEMA])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {PLATFORM_SCHEMA}")
