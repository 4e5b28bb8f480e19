"""The project's apps and Django's: which tables and migrations adoption builds, runs or only records."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from ..catalog import Catalog


def project_app_labels() -> set[str]:
    """The project's own apps (their migrations are recorded, not run, by adoption)."""
    base = Path(settings.BASE_DIR).resolve()
    labels = set()
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        if path.is_relative_to(base) and not {"site-packages", "dist-packages"} & set(path.relative_to(base).parts):
            labels.add(app.label)
    return labels


def django_owned_tables() -> set[str]:
    """Tables of the other apps (Django's contrib): their own migrations create them."""
    project = project_app_labels()
    tables = {MigrationRecorder.Migration._meta.db_table}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in project:
            tables.add(model._meta.db_table)
    return tables


def project_migrations_recorded(alias: str) -> bool:
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return False
    project = project_app_labels()
    return any(app in project for app, _ in recorder.applied_migrations())


def is_legacy(live: Catalog, expected: Catalog) -> bool:
    """A database with some of the platform's tables, or golang-migrate's table."""
    owned = django_owned_tables()
    platform_tables = {obj.name for obj in expected.of_kind("table") if obj.name not in owned}
    return live.golang_migrate is not None or any(("table", name) in live.objects for name in platform_tables)


def unapplied_migrations(alias: str) -> tuple[list[str], list[str]]:
    """(the other apps' migrations to run, the project's to record), in the order they apply."""
    project = project_app_labels()
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    keys = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    to_run = [key for (migration, _), key in zip(plan, keys, strict=True) if migration.app_label not in project]
    to_record = [key for key in keys if key not in to_run]
    return to_run, to_record


def django_migrations(*, fake: bool) -> Callable[[str], None]:
    """Run the other apps' migrations (fake=False), or record the remaining ones (the project's) as applied."""

    def run(alias: str) -> None:
        quiet = {"database": alias, "interactive": False, "verbosity": 0, "skip_checks": True}
        if fake:
            call_command("migrate", fake=True, stdout=io.StringIO(), **quiet)
            return
        project = project_app_labels()
        executor = MigrationExecutor(connections[alias])
        for app_label in sorted({app for app, _ in executor.loader.graph.leaf_nodes()} - project):
            call_command("migrate", app_label, stdout=io.StringIO(), **quiet)

    return run
