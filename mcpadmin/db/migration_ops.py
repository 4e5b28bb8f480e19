"""Reversible RunSQL operations used by the migrations.

They are functions of their arguments only (the labels are written in each
migration), so a migration keeps doing what it did when it was written.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres import operations as postgres_operations
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState

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


# --- Indexes on large tables: CREATE INDEX CONCURRENTLY, resumable -------------------------------
#
# Policy: an index on a table that may already be large in production is built
# CONCURRENTLY (no write lock) in a migration of its own with `atomic = False`.
# PostgreSQL cannot build such an index inside a transaction, so a failure
# (duplicate key, timeout, cancellation) leaves an INVALID index behind and the
# migration unrecorded. Both operations below make re-running `migrate` finish
# the job: they drop an invalid index of the same name first, then create the
# index only if it does not exist. Their reverse drops the index concurrently.


def _drop_invalid_index(schema_editor: BaseDatabaseSchemaEditor, name: str) -> None:
    """Drop the INVALID leftover of an interrupted CREATE INDEX CONCURRENTLY, if there is one."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT 1 FROM pg_index i
              JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisvalid
            """,
            [PLATFORM_SCHEMA, name],
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {PLATFORM_SCHEMA}.{schema_editor.quote_name(name)}")


def _drop_index_concurrently(schema_editor: BaseDatabaseSchemaEditor, name: str) -> None:
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {PLATFORM_SCHEMA}.{schema_editor.quote_name(name)}")


class ResumableAddIndexConcurrently(postgres_operations.AddIndexConcurrently):
    """Django's AddIndexConcurrently (a model index, kept in the migration state), able to resume.

    Use it in a migration with `atomic = False`, one index per migration:

        operations = [ResumableAddIndexConcurrently("embedding", models.Index(fields=[...], name="idx_..."))]
    """

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        _drop_invalid_index(schema_editor, self.index.name)
        statement = str(self.index.create_sql(model, schema_editor, concurrently=True))
        prefix = "CREATE INDEX CONCURRENTLY "
        if not statement.startswith(prefix):
            raise ValueError(f"unexpected index DDL, cannot make it resumable: {statement}")
        schema_editor.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS " + statement.removeprefix(prefix))

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._ensure_not_in_transaction(schema_editor)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _drop_index_concurrently(schema_editor, self.index.name)


class CreateIndexConcurrently(postgres_operations.NotInTransactionMixin, migrations.operations.base.Operation):
    """An index Django cannot describe (bm25, expressions...), built concurrently and resumably.

    `definition` is what follows `ON mcp.<table>`, e.g. "USING bm25 (content) WITH (text_config = 'english')".
    Not part of the migration state, like RunSQL. Use it in a migration with `atomic = False`.
    """

    reversible = True
    atomic = False

    def __init__(self, name: str, table: str, definition: str, *, unique: bool = False) -> None:
        self.name = name
        self.table = table
        self.definition = definition
        self.unique = unique

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._ensure_not_in_transaction(schema_editor)
        _drop_invalid_index(schema_editor, self.name)
        quote = schema_editor.quote_name
        unique = "UNIQUE " if self.unique else ""
        schema_editor.execute(
            f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {quote(self.name)} "
            f"ON {PLATFORM_SCHEMA}.{quote(self.table)} {self.definition}"
        )

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        self._ensure_not_in_transaction(schema_editor)
        _drop_index_concurrently(schema_editor, self.name)

    def describe(self) -> str:
        return f"Concurrently create index {self.name} on {self.table} (resumable)"


def relabel_content_types(old_app: str, new_app: str, models: list[str]) -> migrations.RunPython:
    """Moves content types of models that moved between apps, so that admin history and permissions follow them.

    A content type already made for the new label (post_migrate makes one
    for every model the code has, whatever the migration state) is replaced
    by the old one, which is the one that history and grants point to.
    """

    def move(apps: Any, schema_editor: Any, source: str, target: str) -> None:
        content_type = apps.get_model("contenttypes", "ContentType")
        alias = schema_editor.connection.alias
        for model in models:
            old = content_type.objects.using(alias).filter(app_label=source, model=model).first()
            if old is None:
                continue
            # Plain SQL, the database cascading to permissions and their grants (mcpadmin.db.backend writes ON
            # DELETE into every foreign key, Django's own too): the ORM's cascade can meet a half re-rendered
            # historical state when migrating backwards ("Cannot query Permission object: Must be Permission
            # instance"), depending on the order of the migration plan, which any new app may change.
            schema_editor.execute(
                "DELETE FROM django_content_type WHERE app_label = %s AND model = %s", [target, model]
            )
            old.app_label = target
            old.save(update_fields=["app_label"])

    return migrations.RunPython(
        lambda apps, schema_editor: move(apps, schema_editor, old_app, new_app),
        lambda apps, schema_editor: move(apps, schema_editor, new_app, old_app),
    )
