"""The platform comes back by itself: real kills of the postmaster, a gunicorn worker, migrate's process group.

Every test here runs on a throwaway platform (`harness.Platform`: its own temporary data folder, its own
server, its own gunicorn), never on the suite's database. Bounds are generous timeouts for "it came back at
all"; how fast it comes back is measured by bench/recovery_bench.py, not asserted here.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from pgserver.utils import ensure_prefix_permissions

from tests.recovery.harness import BASE_DIR, Platform, Traffic, throwaway_folder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not settings.DATABASES["default"].get("EMBEDDED_PGDATA"), reason="DATABASE_URL points at an external server"
    ),
]

#: Generous: the embedded server's crash recovery takes 0.5-2 s; this is only "it came back at all".
COME_BACK_WITHIN = 30.0
CONNECT = "from django.db import connection; connection.ensure_connection()"
MIGRATE_AND_CHECK = (
    "from django.core.management import call_command\n"
    "call_command('migrate', verbosity=0)\n"
    "call_command('migrate', check_unapplied=True, verbosity=0)\n"
    "print('ok')"
)


@pytest.fixture
def scratch() -> Path:
    """A temporary folder outside pytest's basetemp.

    The server runs as the OS user "pgserver" when tests run as root, and must reach its folder; every pytest
    session that starts on the machine makes /tmp/pytest-of-<user> private again (mode 0700), which would cut a
    server under tmp_path off its own files whenever another session starts meanwhile.
    """
    with throwaway_folder() as folder:
        yield folder


@pytest.fixture(scope="module")
def platform() -> Platform:
    """A migrated throwaway platform shared by the tests of this module (each leaves its server stopped)."""
    with throwaway_folder() as folder:
        platform = Platform(folder)
        platform.prepare()
        yield platform
        platform.stop()


def assert_outage_answers(answers: list, *, allow_ok: bool = True) -> None:
    """During an outage every answer is 200/201 (before, or retried after the restart) or a proper 503."""
    statuses = Counter(answer.status for answer in answers)
    wrong = [a for a in answers if a.status not in ({200, 201, 503} if allow_ok else {503})]
    assert not wrong, f"answers other than 503 during the outage: {statuses}; first: {wrong[0].body!r}"
    for answer in answers:
        if answer.status == 503:
            assert answer.code == "database_unavailable", answer.body
            assert int(answer.retry_after or 0) > 0


def outage_lines(log: str) -> dict[str, list[str]]:
    """Each process's outage log lines in order: "down" and "up" (the message names its process)."""
    lines: dict[str, list[str]] = {}
    for line in log.splitlines():
        found = re.search(r"database (unavailable|available again).*\(process (\d+)", line)
        if found:
            lines.setdefault(found.group(2), []).append("down" if found.group(1) == "unavailable" else "up")
    return lines


def assert_one_line_per_state_change(log: str, answers_503: int) -> None:
    """Per process: down, up, down, up ... (a line only when the state changes), far fewer lines than 503s."""
    lines = outage_lines(log)
    assert lines, "the outage was logged"
    for process, states in lines.items():
        assert all(a != b for a, b in itertools.pairwise(states)), f"process {process}: {states}"
    downs = sum(states.count("down") for states in lines.values())
    assert downs * 5 < answers_503, f"{downs} outage lines for {answers_503} answers 503"


SEARCH_CHECK = """
from collections import Counter
from django.core.management import call_command
from search.models import Embedding
call_command("rebuild_search_stats", "--verify-only", "--collection", "recovery")
ids = Embedding.objects.filter(collection="recovery").values_list("external_id", flat=True)
batches = Counter(external_id.split("-")[0] for external_id in ids)
print("BATCHES", " ".join(f"{batch}:{count}" for batch, count in batches.items()))
"""


def test_a_killed_postmaster_is_started_again_by_the_running_app(platform: Platform) -> None:
    platform.start()
    try:
        with Traffic(platform, ingesters=1) as traffic:
            assert traffic.wait_for(lambda a: a.status == 201, COME_BACK_WITHIN), "no task created before the kill"
            old_pid = platform.kill_postmaster()
            killed_at = time.monotonic()
            back = traffic.wait_for(lambda a: a.status == 200 and a.at > killed_at + 0.2, COME_BACK_WITHIN)
            assert back is not None, f"nothing answered 200 after the kill:\n{platform.log()[-3000:]}"
            assert traffic.wait_for(lambda a: a.status == 201, COME_BACK_WITHIN), "no task created after the kill"
        assert platform.postmaster_pid() not in (None, old_pid), "a new postmaster runs"
        assert_outage_answers(traffic.since(killed_at))
        log = platform.log()
        assert "Traceback" not in log, log[max(0, log.find("Traceback") - 1500) :][:4000]
        assert "Internal Server Error" not in log
        # Retried idempotent creations through the crash: exactly one task per key, none without its key.
        titles = [f"task {key}" for key in traffic.keys]
        listed = platform.get("/api/v1/tasks?limit=1000").body["results"]
        assert sorted(t["title"] for t in listed) == sorted(titles)
    finally:
        platform.stop()
    assert not platform.server_running(), "the last worker out stopped the server"
    # Ingest batches through the crash: each all or nothing, every acknowledged one whole, statistics exact.
    check = platform.manage("shell", "--no-imports", "-c", SEARCH_CHECK)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "verified, exact" in check.stdout
    line = next(line for line in check.stdout.splitlines() if line.startswith("BATCHES"))
    stored = dict(item.split(":") for item in line.split()[1:])
    assert traffic.batches
    assert set(traffic.batches) <= set(stored)
    assert all(int(count) == Traffic.BATCH for count in stored.values()), stored


def test_a_stopped_or_unreachable_server_is_503_then_comes_back(platform: Platform) -> None:
    platform.start()
    try:
        with Traffic(platform, writers=0) as traffic:
            # `make db-stop` under the running app: the app starts the server again.
            stopped_at = time.monotonic()
            stop = subprocess.run(
                [sys.executable, "-m", "mcpadmin.embedded_db", "stop"],
                cwd=BASE_DIR, env=platform.env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert stop.returncode == 0, stop.stdout + stop.stderr
            assert traffic.wait_for(lambda a: a.status == 200, COME_BACK_WITHIN), platform.log()[-3000:]
            assert platform.server_running()
            assert_outage_answers(traffic.since(stopped_at))

            # A server that cannot be started (its folder gone): every answer a 503, health too, for as long.
            away = platform.pgdata.with_name("pg.away")
            platform.pgdata.rename(away)  # the postmaster keeps running in it, unreachable by its socket path
            os.kill(platform.postmaster_pid(away), signal.SIGKILL)
            outage_from = time.monotonic()
            time.sleep(2)
            health = platform.get("/api/v1/health")
            preflight = platform.request(  # answered by the CORS middleware, outside DRF
                "OPTIONS",
                "/api/v1/agents",
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
            )
            outage_to = time.monotonic()
            away.rename(platform.pgdata)
            assert traffic.wait_for(lambda a: a.status == 200, COME_BACK_WITHIN), platform.log()[-3000:]
        during = traffic.since(outage_from + 0.5, outage_to)  # requests already in flight may still have finished
        assert len(during) > 10
        assert_outage_answers(during, allow_ok=False)
        assert (health.status, health.body["database"]) == (503, "unreachable")
        assert health.retry_after
        assert (preflight.status, preflight.code) == (503, "database_unavailable")
        log = platform.log()
        assert "Traceback" not in log, log[max(0, log.find("Traceback") - 1500) :][:4000]
        assert_one_line_per_state_change(log, sum(1 for a in traffic.answers if a.status == 503))
    finally:
        platform.stop()


def test_a_killed_worker_does_not_keep_the_server_alive_after_the_app_stops(platform: Platform) -> None:
    platform.start()
    try:
        with Traffic(platform, readers=1, writers=2) as traffic:
            assert traffic.wait_for(lambda a: a.status == 201, COME_BACK_WITHIN)
            victim = platform.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)  # mid-batch: the writers keep creating tasks; it never leaves the list
            deadline = time.monotonic() + COME_BACK_WITHIN
            while time.monotonic() < deadline and (
                victim in platform.worker_pids() or len(platform.worker_pids()) < platform.workers
            ):
                time.sleep(0.1)
            assert traffic.wait_for(lambda a: a.status == 201, COME_BACK_WITHIN)
        # no task lost or doubled by the killed worker: one task per Idempotency-Key answered 201
        listed = [t["title"] for t in platform.get("/api/v1/tasks?limit=1000").body["results"]]
        assert {f"task {key}" for key in traffic.keys} <= set(listed)
        assert len(set(listed)) == len(listed)
    finally:
        platform.stop()
    deadline = time.monotonic() + COME_BACK_WITHIN
    while platform.server_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not platform.server_running(), f"the server outlived the app; users: {platform.handle_pids()}"
    assert platform.handle_pids() == []


def initdb_path() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / "initdb"


def kill_group_when(process: subprocess.Popen, condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "finished before the kill"
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def test_killing_migrate_during_initdb_leaves_no_half_made_data_folder(scratch: Path) -> None:
    platform = Platform(scratch)
    migrate = subprocess.Popen(
        [sys.executable, "manage.py", "migrate"], cwd=BASE_DIR, env=platform.env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # what a container stop does: the whole process group, while initdb has written template1 but not finished
    kill_group_when(migrate, lambda: any(scratch.glob(".pg.initdb-*/base/1")))
    assert not (platform.pgdata / "PG_VERSION").exists(), "the data folder exists only once complete"
    # the next `make migrate` initialises the folder and completes; nothing is left unapplied
    result = platform.manage("shell", "--no-imports", "-c", MIGRATE_AND_CHECK)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
    assert (platform.pgdata / "base" / "4").exists()
    assert not list(scratch.glob(".pg.initdb-*")), "the interrupted attempt was cleared"


def test_a_half_made_data_folder_is_reported_with_what_to_do(scratch: Path) -> None:
    """A folder left by an initdb killed in place (what pgserver's own initdb left): a clear refusal."""
    platform = Platform(scratch)
    platform.pgdata.mkdir()
    user = None
    if os.geteuid() == 0:  # as pgserver does: initdb runs as its own user, who must reach the folder
        ensure_prefix_permissions(platform.pgdata)
        shutil.chown(platform.pgdata, "pgserver", "pgserver")
        user = "pgserver"
    initdb = subprocess.Popen(
        [str(initdb_path()), "-D", str(platform.pgdata), "--auth=trust", "-U", "postgres"],
        user=user, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    kill_group_when(initdb, lambda: (platform.pgdata / "base" / "1").exists())
    assert (platform.pgdata / "PG_VERSION").exists(), "the old failure: looks like a cluster"

    result = platform.manage("shell", "--no-imports", "-c", CONNECT)
    assert result.returncode != 0
    assert "not a complete PostgreSQL cluster" in result.stderr
    assert f"rm -rf {platform.pgdata}" in result.stderr
    assert "AssertionError" not in result.stderr

    stop = subprocess.run(
        [sys.executable, "-m", "mcpadmin.embedded_db", "stop"],
        cwd=BASE_DIR, env=platform.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert stop.returncode == 1
    assert "not a complete PostgreSQL cluster" in stop.stdout
    assert f"rm -rf {platform.pgdata}" in stop.stdout
