"""mcpadmin.progress: a bar on a terminal, plain lines otherwise; and the long commands that use it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mcpadmin.progress import Progress
from tasks.models import TaskIdempotencyKey
from tests.tasks.helpers import task_in


def test_on_a_terminal_a_bar_is_redrawn_in_place_then_ended_by_a_newline():
    out = io.StringIO()
    progress = Progress(out, 4, tty=True, width=4)
    progress(1, "rows")
    progress(4, "rows")
    progress.close()
    text = out.getvalue()
    assert text.startswith("\r  rows: [#---] 1/4 (25%")
    assert "\r  rows: [####] 4/4 (100%" in text
    assert text.endswith("\n")
    assert text.count("\n") == 1


def test_without_a_terminal_a_line_per_phase_and_every_few_seconds_no_carriage_returns():
    out = io.StringIO()
    progress = Progress(out, 100, tty=False, every=3600)
    for done in range(0, 101, 10):
        progress(done, "first")
    progress(5, "second")
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split(" (")[0] for line in lines] == [
        "  first: 0/100",  # the phase starts
        "  first: 100/100",  # it ends (the next phase began)
        "  second: 5/100",
        "  second: 5/100",  # close
    ]
    chatty = io.StringIO()
    progress = Progress(chatty, None, tty=False, every=0)
    for done in (1, 2, 3):
        progress(done, "purge")
    assert [line.split(" (")[0] for line in chatty.getvalue().splitlines()] == [
        "  purge: 1",
        "  purge: 2",
        "  purge: 3",
    ]


def test_nothing_reported_nothing_written():
    out = io.StringIO()
    Progress(out, 10, tty=True).close()
    assert out.getvalue() == ""


@pytest.mark.django_db
def test_the_idempotency_key_purge_reports_its_batches(tenant):
    task = task_in(tenant, "pending")
    for index in range(5):
        TaskIdempotencyKey.objects.create(
            idempotency_key=f"{tenant.id}:k{index}",
            task=task,
            tenant=tenant,
            request_fingerprint="0" * 64,
            response_status=201,
            response_body="{}",
            expires_at=timezone.now() - timedelta(seconds=1),
        )
    out = io.StringIO()
    call_command("purge_idempotency_keys", "--batch-size", "2", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  task_idempotency_keys: 2 (")
    assert any(line.startswith("  task_idempotency_keys: 5 (") for line in lines)
    assert lines[-1] == "deleted 5 expired idempotency key(s)"
