"""Shared fixtures. Tests run against a real PostgreSQL: the embedded server, or DATABASE_URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection


@pytest.fixture
def sql() -> Callable[..., list[tuple[Any, ...]]]:
    """Run SQL on the test database and return its rows."""

    def run(query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    return run


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # The manifest storage of production needs `collectstatic`; tests serve from the apps' folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture
def tenant(db: Any) -> Any:
    from tests.factories import service_tenant

    return service_tenant()


@pytest.fixture
def other_tenant(db: Any) -> Any:
    from tests.factories import service_tenant

    return service_tenant()


@pytest.fixture
def admin_key(tenant: Any) -> Any:
    from tests.factories import issued_key

    return issued_key(tenant, "admin")


@pytest.fixture
def admin_api(admin_key: Any) -> Any:
    from tests.factories import client_for

    return client_for(admin_key.raw_key)
