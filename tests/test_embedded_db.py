"""The embedded PostgreSQL: started from nothing, shared by processes, with pg_textsearch preloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
embedded_only = pytest.mark.skipif(
    not settings.DATABASES["default"].get("EMBEDDED_PGDATA"), reason="DATABASE_URL points at an external server"
)

QUERY = (
    "from django.db import connection\n"
    "with connection.cursor() as c:\n"
    "    c.execute('SELECT current_database(), current_setting(%s), version()', ['shared_preload_libraries'])\n"
    "    print('|'.join(map(str, c.fetchone())))\n"
)


def manage_shell(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", QUERY],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@embedded_only
def test_a_new_data_folder_is_initialised_and_stopped_with_its_last_process(tmp_path):
    data_dir = tmp_path / "pg"
    env = {"MCPADMIN_PGDATA": str(data_dir), "MCPADMIN_PG_CLEANUP": "stop"}
    database, preload, version = manage_shell(env).split("|")
    assert database == "mcpadmin"
    assert "pg_textsearch" in preload.split(",")
    assert version.startswith("PostgreSQL 18")
    assert (data_dir / "PG_VERSION").exists()
    assert not (data_dir / "postmaster.pid").exists(), "the last process out stops the server"
    # reused on the next run: same folder, same database, no new initdb
    assert manage_shell(env).split("|")[0] == "mcpadmin"


SETTINGS_QUERY = (
    "from django.db import connection\n"
    "with connection.cursor() as c:\n"
    "    c.execute(\"SELECT current_setting('work_mem'), current_setting('shared_buffers')\")\n"
    "    print('|'.join(c.fetchone()))\n"
)


@embedded_only
def test_server_settings_are_tuned_and_overridable(tmp_path):
    env = {
        "MCPADMIN_PGDATA": str(tmp_path / "pg"),
        "MCPADMIN_PG_CLEANUP": "stop",
        "MCPADMIN_PG_SETTINGS": "work_mem=8MB",
    }

    def settings() -> list[str]:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", SETTINGS_QUERY],
            cwd=BASE_DIR, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return result.stdout.strip().splitlines()[-1].split("|")

    assert settings()[0] == "8MB", "reloadable settings apply at once"
    assert settings() == ["8MB", "1GB"], "shared_buffers from the next start"


@embedded_only
def test_several_processes_share_one_server_at_once(tmp_path):
    env = {"MCPADMIN_PGDATA": str(tmp_path / "pg"), "MCPADMIN_PG_CLEANUP": "stop"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(lambda _: manage_shell(env), range(4)))
    assert all(output.startswith("mcpadmin|") for output in outputs)


@embedded_only
def test_the_default_data_folder_is_inside_the_project_and_ignored_by_git():
    pgdata = Path(settings.DATABASES["default"]["EMBEDDED_PGDATA"])
    if "MCPADMIN_PGDATA" not in os.environ:
        assert pgdata.is_relative_to(BASE_DIR)
    ignored = subprocess.run(["git", "check-ignore", "-q", str(BASE_DIR / "var" / "pgdata")], cwd=BASE_DIR)
    assert ignored.returncode == 0


@pytest.mark.django_db
def test_the_server_offers_pgvector_0_8_and_pg_textsearch(sql):
    versions = dict(
        sql("SELECT name, default_version FROM pg_available_extensions WHERE name IN ('vector', 'pg_textsearch')")
    )
    major, minor = (int(part) for part in versions["vector"].split(".")[:2])
    assert (major, minor) >= (0, 8)
    if settings.DATABASES["default"].get("EMBEDDED_PGDATA"):
        assert "pg_textsearch" in versions


SLOW_START = """
import subprocess, sys, time
import pgserver.postgres_server as ps
real_pg_ctl = ps.pg_ctl

def slow_pg_ctl(args, **kwargs):
    # What a long crash recovery looks like to pgserver: `pg_ctl start` still waiting after 10 s.
    if "start" in args:
        real_pg_ctl([("-W" if a == "-w" else a) for a in args], **kwargs)
        while not (kwargs["pgdata"] / "log").exists():  # as after 10 s: the postmaster has opened its log
            time.sleep(0.05)
        raise subprocess.TimeoutExpired(cmd="pg_ctl start", timeout=10)
    return real_pg_ctl(args, **kwargs)

ps.pg_ctl = slow_pg_ctl
from mcpadmin import embedded_db
server = embedded_db.ensure_server(sys.argv[1], database="mcpadmin")
with server.connect("mcpadmin") as conn:
    print(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])
"""


@embedded_only
def test_a_server_slower_to_start_than_pgservers_timeout_is_waited_for_and_stopped_after(tmp_path):
    data_dir = tmp_path / "pg"
    result = subprocess.run(
        [sys.executable, "-c", SLOW_START, str(data_dir)],
        cwd=BASE_DIR, env={**os.environ, "MCPADMIN_PG_CLEANUP": "stop"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert "still starting" in result.stderr
    assert not (data_dir / "postmaster.pid").exists(), "this process was registered: its exit stopped the server"
