"""Statements prepared once per database connection (`PREPARE` / `EXECUTE`), for the hottest paths.

The API-key lookup and the rate-limit upsert run on every authenticated
request; parsing and planning them again each time cost about as much as
executing them (see bench/auth_bench.py). Django's default client-side
binding never prepares statements, so these few do it in SQL, once per
connection. The name carries a hash of the SQL, so that processes running
different code never share a definition.

Set DB_PREPARED_STATEMENTS=false behind a pooler that hands one server
session to several clients (pgbouncer in transaction mode).
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"\$(\d+)")


class PreparedStatement:
    """`sql` uses `$1 … $n`; `param_types` gives their PostgreSQL types."""

    def __init__(self, name: str, sql: str, *, param_types: Sequence[str]) -> None:
        digest = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:10]
        self.name = f"{name}_{digest}"
        self.param_types = list(param_types)
        self.prepare_sql = f"PREPARE {self.name} ({', '.join(self.param_types)}) AS {sql}"
        self.execute_sql = f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.param_types))})"
        self.plain_sql = _PLACEHOLDER.sub(lambda m: f"%(p{m.group(1)})s", sql.replace("%", "%%"))

    @classmethod
    def from_named(cls, name: str, sql: str, parameters: Mapping[str, str]) -> PreparedStatement:
        """A statement written with `%(name)s` placeholders (as the unprepared variants of the same SQL are):
        `parameters` maps each name to its PostgreSQL type, in the order `execute` takes their values."""
        for position, parameter in enumerate(parameters, start=1):
            sql = sql.replace(f"%({parameter})s", f"${position}")
        return cls(name, sql, param_types=list(parameters.values()))

    def execute(self, cursor: Any, params: Sequence[Any]) -> None:
        if len(params) != len(self.param_types):
            raise ValueError(f"{self.name} takes {len(self.param_types)} parameters, got {len(params)}")
        if not settings.DB_PREPARED_STATEMENTS:
            cursor.execute(self.plain_sql, {f"p{i}": value for i, value in enumerate(params, start=1)})
            return
        raw_connection = cursor.db.connection
        names = _prepared.setdefault(raw_connection, set())
        if self.name not in names:
            cursor.execute(self.prepare_sql)  # session state: survives the rollback of a surrounding transaction
            names.add(self.name)
        cursor.execute(self.execute_sql, list(params))
