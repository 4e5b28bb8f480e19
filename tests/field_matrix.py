"""Field-level tests generated from a field table (`mcpadmin.core.fields`): every field by every caller kind.

A module declares, for one model, how a caller of a kind reaches an object it may otherwise change
(`FieldCase.reach`; None for a key type that may change no such object, by the object rules), a valid new value
of each field, and how to read the stored value back; `field_tests` returns a parametrized test that writes each
field as each kind and expects exactly what the table says: allowed, the value is stored; refused, 403
`field_not_allowed` naming the field, and nothing stored. Callers the key-type matrix already refuses
(`service_not_allowed`) are expected to be refused that way; a key type that reaches no object must be granted
no field by the table (a table that says otherwise is wrong).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from apikeys import policy
from mcpadmin.core.access import WRITE
from mcpadmin.core.fields import FieldWriters
from tests.api_cases import KEY_TYPES, error_of


@dataclass(frozen=True)
class Reached:
    """An object a caller reaches, and how it writes one field of it: `write(field, value)` → response."""

    write: Callable[[str, Any], Any]
    stored: Callable[[str], Any]


@dataclass(frozen=True)
class FieldCase:
    name: str
    table: FieldWriters
    service: str
    values: Mapping[str, Any]
    reach: Callable[[str], Reached | None]


def field_tests(case: FieldCase) -> dict[str, Any]:
    assert set(case.values) == set(case.table), "a sample value for every field of the table, and only those"

    @pytest.mark.django_db
    @pytest.mark.parametrize("key_type", KEY_TYPES)
    @pytest.mark.parametrize("field", sorted(case.table))
    def test_each_field_is_writable_by_exactly_the_callers_its_table_names(field: str, key_type: str) -> None:
        reached = case.reach(key_type)
        if reached is None:
            assert key_type not in case.table[field], f"{key_type} keys change no {case.name}, yet the table grants"
            return
        before = reached.stored(field)
        value = case.values[field]
        assert before != value, "the sample value must differ from the stored one"
        response = reached.write(field, value)
        if not policy.key_type_allows(key_type, case.service, WRITE):
            assert error_of(response)[:2] == (403, "service_not_allowed")
            assert reached.stored(field) == before
        elif key_type in case.table[field]:
            assert response.status_code in (200, 201), response.json()
            assert reached.stored(field) == value
        else:
            assert error_of(response) == (403, "field_not_allowed", [field])
            assert reached.stored(field) == before

    name = f"test_{case.name}_fields_are_writable_by_exactly_the_callers_of_its_table"
    test_each_field_is_writable_by_exactly_the_callers_its_table_names.__name__ = name
    return {name: test_each_field_is_writable_by_exactly_the_callers_its_table_names}
