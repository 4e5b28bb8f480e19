"""`manage.py purge_audit_events --older-than 90d` deletes only older events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from audit.services import audit_events_purge
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Forbidden
from tests import factories

pytestmark = pytest.mark.django_db


def aged(days: int, tenant) -> AuditEvent:
    agent = factories.agent(tenant)
    event = AuditEvent.objects.get(object_id=str(agent.pk))
    AuditEvent.objects.filter(pk=event.pk).update(created_at=event.created_at - timedelta(days=days))
    return event


def test_purge_deletes_only_the_older_events(tenant, capsys):
    old, older = aged(91, tenant), aged(400, tenant)
    recent = aged(89, tenant)
    call_command("purge_audit_events", "--older-than", "90d", "--batch-size", "1")
    remaining = set(AuditEvent.objects.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert older.pk not in remaining
    assert recent.pk in remaining
    assert "deleted 2 audit event(s)" in capsys.readouterr().out


def test_the_default_keeps_ninety_days(tenant):
    old, recent = aged(100, tenant), aged(10, tenant)
    call_command("purge_audit_events")
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()


@pytest.mark.parametrize("value", ["90", "ninety days", "-1d", "0d"])
def test_a_bad_duration_is_a_command_error(value):
    with pytest.raises(CommandError):
        call_command("purge_audit_events", "--older-than", value)


def test_keys_never_purge(tenant):
    key = factories.issued_key(tenant, "admin").key
    with pytest.raises(Forbidden):
        audit_events_purge(actor=Actor.for_key(key), older_than=timedelta(days=1))
