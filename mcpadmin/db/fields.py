"""Field types for the spec's PostgreSQL-specific columns."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import Func
from django.utils import timezone
from django.utils.deconstruct import deconstructible


@deconstructible(path="mcpadmin.db.fields.CurrentTimestamp")
class CurrentTimestamp(Func):
    """`CURRENT_TIMESTAMP`, the spec's default (Django's `Now()` renders STATEMENT_TIMESTAMP())."""

    template = "CURRENT_TIMESTAMP"
    output_field = models.DateTimeField()

    def __init__(self) -> None:
        super().__init__()


class EnumField(models.CharField):
    """A column of a PostgreSQL enum type; `choices` mirror its labels for forms and the API.

    The database is the authority: a value outside the enum is rejected by
    PostgreSQL even when it bypasses Django.
    """

    def __init__(self, *args: Any, enum_type: str, **kwargs: Any) -> None:
        self.enum_type = enum_type
        kwargs.setdefault("max_length", 63)  # PostgreSQL's limit for an enum label
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["enum_type"] = self.enum_type
        if kwargs.get("max_length") == 63:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str:
        return self.enum_type

    def cast_db_type(self, connection: Any) -> str:
        return self.enum_type


class TimestampField(models.DateTimeField):
    """`TIMESTAMP` without time zone, as the spec asks for `embedding_statistics.last_updated`.

    The connection's time zone is UTC (Django sets it), so values are stored as
    UTC wall-clock time and come back as aware UTC datetimes.
    """

    def db_type(self, connection: Any) -> str:
        return "timestamp"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, datetime.datetime) and timezone.is_naive(value):
            return value.replace(tzinfo=datetime.UTC)
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        if isinstance(value, datetime.datetime) and timezone.is_aware(value):
            return value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value


def uuid_pk() -> models.UUIDField:
    """A UUID primary key generated in Python, with `gen_random_uuid()` as the database default.

    The spec writes `uuid_generate_v4()`, from the uuid-ossp extension, which
    neither the embedded server nor many managed ones ship; `gen_random_uuid()`
    is built in since PostgreSQL 13 and gives the same version-4 UUIDs.
    """
    import uuid

    return models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)


def created_at(*, null: bool = False) -> models.DateTimeField:
    return models.DateTimeField(default=timezone.now, db_default=CurrentTimestamp(), null=null, editable=False)


def updated_at(*, null: bool = False) -> models.DateTimeField:
    """Kept current by `auto_now` for the ORM; writers outside Django set it themselves."""
    return models.DateTimeField(auto_now=True, db_default=CurrentTimestamp(), null=null)
