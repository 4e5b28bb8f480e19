"""PostgreSQL backend of mcpadmin: Django's own, plus three things it lacks.

- The embedded server: when the settings carry `EMBEDDED_PGDATA`, the server
  is started (or joined) on the first connection, not at import time, so
  commands that never touch the database never start PostgreSQL. A new
  connection that finds it gone (postmaster killed, `make db-stop`) has it
  started again (`embedded_db.revive`) and is tried once more.
- Outages: failed connections are recorded in `mcpadmin.db.outage` (one log
  line when the database goes, one when it is back).
- The platform schema: `prepare_database()` (run by `migrate` before anything
  else, including the creation of `django_migrations`) creates schema `mcp`,
  so every table lands there through the connection's search_path.
- Database-level ON DELETE: see `schema.DatabaseSchemaEditor`.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from mcpadmin.db import PLATFORM_SCHEMA, outage
from mcpadmin.embedded_db import ServerUnavailable, ensure_server, revive

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

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            connection = super().get_new_connection(conn_params)
        except self.Database.OperationalError as error:
            if not outage.is_unavailable(error):
                raise
            pgdata = self.settings_dict.get("EMBEDDED_PGDATA")
            if not pgdata:
                outage.note_down(error)
                raise
            connection = self._connect_after_revive(pgdata, conn_params, error)
        outage.note_up()
        return connection

    def _connect_after_revive(self, pgdata: str, conn_params: dict[str, Any], error: Exception) -> Any:
        """The embedded server did not answer: have it back (started again if gone) and connect once more.

        Nothing ran on the failed connection, so the request that noticed goes on as if nothing happened; when
        the server is not back within `embedded_db.REVIVE_WAIT_SECONDS` the original error stands (503).
        """
        try:
            server = revive(pgdata)
        except ServerUnavailable:
            outage.note_down(error)
            raise error from None
        try:
            return super().get_new_connection({**conn_params, "host": server.socket_dir, "port": server.port})
        except self.Database.OperationalError as again:
            outage.note_down(again)
            raise

    def prepare_database(self) -> None:
        super().prepare_database()
        with self.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [PLATFORM_SCHEMA])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {PLATFORM_SCHEMA}")
