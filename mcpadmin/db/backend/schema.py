"""Schema editor that writes each foreign key's ON DELETE into the database.

Django 5.2 emulates `on_delete` in Python only and creates every foreign key
as NO ACTION. Other services share this database and delete rows with plain
SQL, so the database itself must cascade where the model cascades (the spec's
`task_* .task_id ... ON DELETE CASCADE`). Changing `on_delete` of an existing
field later is not picked up by migrations (Django treats it as a Python-only
attribute): write a RunSQL for that.

It also skips Django's second "_like" index (varchar_pattern_ops) on indexed
CharFields: the platform looks keys, hashes and ids up by equality only, and
every extra index slows the writes of hot tables. Declare a pattern-ops index
explicitly where a LIKE 'prefix%' query needs one.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.postgresql import schema

ON_DELETE_SQL = {
    models.CASCADE: " ON DELETE CASCADE",
    models.SET_NULL: " ON DELETE SET NULL",
}


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    sql_create_fk = (
        "ALTER TABLE %(table)s ADD CONSTRAINT %(name)s FOREIGN KEY (%(column)s) "
        "REFERENCES %(to_table)s (%(to_column)s)%(on_delete)s%(deferrable)s"
    )
    # Without an inline template, add_field() falls back to _create_fk_sql(),
    # so there is a single place where foreign keys are written.
    sql_create_column_inline_fk = None

    def _create_like_index_sql(self, model: type[models.Model], field: Any) -> None:
        return None

    def _create_fk_sql(self, model: type[models.Model], field: Any, suffix: str) -> Any:
        statement = super()._create_fk_sql(model, field, suffix)
        statement.parts["on_delete"] = ON_DELETE_SQL.get(field.remote_field.on_delete, "")
        return statement
