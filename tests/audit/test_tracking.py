"""The tracking table (audit.tracking) against the models and the database: every column classified once,
secrets never recorded by value, one trigger on every tracked table, every project command audited."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django.apps import apps
from django.core.management import get_commands

from audit.tracking import TRACKED, TRIGGER_NAME
from mcpadmin.management.base import AuditedCommand

#: Columns whose values are secrets: the audit may name them, never copy them.
SECRETS = {("api_keys", "key_hash"), ("tenant_config", "service_tokens")}
#: Commands outside the platform's own writes: schema tools that run before (or beside) the application.
UNAUDITED_COMMANDS = {"schema_gap", "adopt_legacy_db"}
PROJECT_APPS = {"mcpadmin", "tenants", "agents", "apikeys", "workspaces", "tasks", "search", "workflows", "audit"}


@pytest.mark.parametrize("spec", TRACKED, ids=lambda spec: spec.table)
def test_every_column_but_the_primary_key_is_classified_exactly_once(spec):
    columns = {field.column for field in spec.model._meta.concrete_fields} - {spec.model._meta.pk.column}
    lists = [*spec.values, *spec.names_only, *spec.ignored]
    assert len(lists) == len(set(lists)), f"{spec.table}: a column is in two lists"
    assert set(lists) == columns, (
        f"{spec.table}: classify {sorted(columns - set(lists))}; gone: {sorted(set(lists) - columns)}"
    )


def test_secrets_are_named_only():
    for table, column in SECRETS:
        (spec,) = [spec for spec in TRACKED if spec.table == table]
        assert column in spec.names_only


@pytest.mark.django_db
def test_every_tracked_table_has_exactly_its_audit_trigger(sql):
    rows = sql(
        """
        SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE NOT t.tgisinternal AND t.tgname LIKE %s GROUP BY c.relname
        """,
        [f"pgtrigger_{TRIGGER_NAME}_%"],
    )
    assert dict(rows) == {spec.table: 1 for spec in TRACKED}


def test_every_project_command_opens_an_audit_context():
    for name, app in get_commands().items():
        if app not in {*PROJECT_APPS, "deploy"} or name in UNAUDITED_COMMANDS:
            continue
        module = importlib.import_module(f"{app}.management.commands.{name}")
        assert issubclass(module.Command, AuditedCommand), f"{app}: {name} does not derive from AuditedCommand"
    assert pkgutil.get_loader("audit.management.commands.purge_audit_events") is not None
    assert apps.is_installed("audit")
