"""The project's own PostgreSQL, started on demand when DATABASE_URL is unset.

pgserver runs one postmaster per data folder and lets any number of processes
share it: it records every process that asked for the server and, with the
"stop" cleanup mode, stops the server when the last of them exits. So
runserver, gunicorn workers, pytest and manage.py commands may all call
`ensure_server` on the same folder at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)
# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI), also when pgserver exits: harmless here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

#: Cleanup modes of pgserver: "stop" stops the server when the last process
#: using it exits; "keep" (pgserver's None) leaves it running for the next one.
CLEANUP_MODES = {"stop": "stop", "keep": None}

#: Server settings of the embedded PostgreSQL (its own defaults are for a tiny machine: 128 MB of shared
#: buffers, where the vector index of 100k documents alone takes 800 MB). Override or add any setting with
#: MCPADMIN_PG_SETTINGS="name=value,name=value". Applied with ALTER SYSTEM; shared_buffers at the next start.
SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "maintenance_work_mem": "1GB",  # HNSW index builds
    "work_mem": "16MB",
    "max_wal_size": "4GB",  # bulk ingest without a checkpoint every few seconds
    "checkpoint_timeout": "15min",
    "wal_compression": "on",
    "random_page_cost": "1.1",  # local SSD
}


@dataclass(frozen=True)
class EmbeddedServer:
    data_dir: Path
    socket_dir: str
    port: int
    bin_dir: Path

    def connect(self, dbname: str = "postgres", **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(host=self.socket_dir, port=self.port, user="postgres", dbname=dbname, **kwargs)

    def url(self, dbname: str) -> str:
        """A DATABASE_URL for a database of this server (Unix socket, no TCP)."""
        from urllib.parse import quote

        return f"postgresql://postgres@{quote(self.socket_dir, safe='')}:{self.port}/{dbname}"


_lock = threading.Lock()
_servers: dict[Path, EmbeddedServer] = {}


def ensure_server(data_dir: str | Path, *, database: str | None = None) -> EmbeddedServer:
    """Start (or join) the server of `data_dir` and make sure `database` exists."""
    path = Path(data_dir).expanduser().resolve()
    with _lock:
        server = _servers.get(path)
        if server is None:
            server = _start(path)
            _servers[path] = server
    if database:
        _ensure_database(server, database)
    return server


def _start(path: Path) -> EmbeddedServer:
    # pgserver creates the folder with exist_ok=False outside its lock: processes starting together on a new
    # folder (gunicorn workers on a fresh machine) would race. The rest of its start-up runs under its lock.
    path.mkdir(parents=True, exist_ok=True)
    import pgserver
    from pgserver._commands import POSTGRES_BIN_PATH

    mode = os.environ.get("MCPADMIN_PG_CLEANUP", "stop")
    if mode not in CLEANUP_MODES:
        raise ValueError(f"MCPADMIN_PG_CLEANUP must be one of {sorted(CLEANUP_MODES)}, not {mode!r}")
    try:
        handle = pgserver.get_server(path, cleanup_mode=CLEANUP_MODES[mode])
    except subprocess.TimeoutExpired:
        handle = _join_slow_start(path)
    info = handle.get_postmaster_info()
    if info.status != "ready":  # joined a server that another process started and that is still recovering
        _wait_until_ready(path)
    logger.debug("embedded PostgreSQL at %s (pid %s)", path, info.pid)
    server = EmbeddedServer(
        data_dir=path,
        socket_dir=str(info.socket_dir),
        port=int(info.port or 5432),
        bin_dir=Path(POSTGRES_BIN_PATH),
    )
    _apply_server_settings(server)
    return server


def start_timeout() -> float:
    return float(os.environ.get("MCPADMIN_PG_START_TIMEOUT", "600"))


def _join_slow_start(path: Path) -> object:
    """Wait for a server that needs longer than pgserver's 10 s to start, and join it.

    After an unclean stop (a killed container, a power cut) PostgreSQL replays the WAL written since the last
    checkpoint before it accepts connections: with the large `max_wal_size` that bulk ingest wants, that can take
    a minute. pgserver gives `pg_ctl start` 10 s and raises, while the postmaster goes on recovering; its
    half-made handle stays registered. Wait until the postmaster says it is ready, then finish that handle's
    start-up as pgserver would have (record it, register this process for the cleanup).
    """
    from pgserver.postgres_server import PostgresServer

    _wait_until_ready(path)
    handle = PostgresServer._instances[path]
    with handle._lock:
        handle.ensure_postgres_running()
        handle.global_process_id_list.get_and_add(os.getpid())
    return handle


def _wait_until_ready(path: Path) -> None:
    from pgserver.utils import PostmasterInfo

    started = time.monotonic()
    deadline = started + start_timeout()
    logger.warning("embedded PostgreSQL in %s is still starting (crash recovery?); waiting up to %.0f s",
                   path, start_timeout())  # fmt: skip
    while True:
        try:
            info = PostmasterInfo.read_from_pgdata(path)
        except (AssertionError, ValueError):  # the postmaster is still writing its pid file
            info = None
        if info is not None and info.is_running() and info.status == "ready":
            return
        # A postmaster that has not written its pid file yet (or still shows a stale one) gets a grace period.
        gone = (info is None or not info.is_running()) and time.monotonic() > started + 15
        if gone or time.monotonic() > deadline:
            log = path / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"embedded PostgreSQL in {path} did not start; end of its log:\n{tail}")
        time.sleep(0.5)


def server_settings() -> dict[str, str]:
    settings = dict(SERVER_SETTINGS)
    for pair in filter(None, (p.strip() for p in os.environ.get("MCPADMIN_PG_SETTINGS", "").split(","))):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"MCPADMIN_PG_SETTINGS: expected name=value, got {pair!r}")
        settings[name.strip()] = value.strip()
    return settings


def _apply_server_settings(server: EmbeddedServer) -> None:
    """ALTER SYSTEM the wanted settings when they changed since the last time (a marker in the data folder)."""
    import json

    wanted = server_settings()
    marker = server.data_dir / "mcpadmin-settings.json"
    try:
        if json.loads(marker.read_text()) == wanted:
            return
    except (OSError, ValueError):
        pass
    with server.connect(autocommit=True) as conn:
        for name, value in wanted.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
    marker.write_text(json.dumps(wanted, sort_keys=True))
    logger.info("embedded PostgreSQL settings applied (shared_buffers takes effect at the next start)")


_created: set[tuple[Path, str]] = set()


def _ensure_database(server: EmbeddedServer, database: str) -> None:
    if (server.data_dir, database) in _created:
        return
    with server.connect(autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            # another process may create it between our check and our CREATE
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    _created.add((server.data_dir, database))


def _settings_data_dir() -> Path:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")
    django.setup()
    from django.conf import settings

    pgdata = settings.DATABASES["default"].get("EMBEDDED_PGDATA")
    if not pgdata:
        raise SystemExit("DATABASE_URL is set: this project is not using its embedded PostgreSQL.")
    return Path(pgdata)


def main(argv: list[str]) -> int:
    """`python -m mcpadmin.embedded_db stop|psql|url`: operate the embedded server by hand."""
    command = argv[0] if argv else ""
    data_dir = _settings_data_dir()
    if command == "stop":
        import subprocess

        from pgserver._commands import pg_ctl

        if not (data_dir / "postmaster.pid").exists():
            print(f"not running ({data_dir})")
            return 0
        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=data_dir, user=user)
        except subprocess.CalledProcessError:
            print(f"could not stop the server of {data_dir}; see {data_dir / 'log'}")
            return 1
        print(f"stopped ({data_dir})")
        return 0
    if command in ("psql", "url"):
        from django.conf import settings

        dbname = settings.DATABASES["default"]["NAME"]
        os.environ["MCPADMIN_PG_CLEANUP"] = "keep"  # psql replaces this process: keep the server up
        server = ensure_server(data_dir, database=dbname)
        if command == "url":
            print(server.url(dbname))
            return 0
        os.execv(  # noqa: S606  (the server's own psql)
            str(server.bin_dir / "psql"),
            ["psql", "-h", server.socket_dir, "-p", str(server.port), "-U", "postgres", dbname, *argv[1:]],
        )
    print("usage: python -m mcpadmin.embedded_db stop | psql [psql args] | url")
    return 2


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
