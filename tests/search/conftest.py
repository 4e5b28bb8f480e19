"""Fixtures of the search tests."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture
def hnsw_only():
    """Plans that can only use the HNSW index for ORDER BY distance: as on a big table."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_bitmapscan")
        cursor.execute("RESET enable_sort")
