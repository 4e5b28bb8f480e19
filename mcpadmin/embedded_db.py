"""The project's own PostgreSQL, started on demand when DATABASE_URL is unset.

pgserver runs one postmaster per data folder and lets any number of processes
share it: it records every process that asked for the server and, with the
"stop" cleanup mode, stops the server when the last of them exits. So
runserver, gunicorn workers, pytest and manage.py commands may all call
`ensure_server` on the same folder at once.

What this module adds to pgserver, so that the platform comes back by itself:

- `revive`: a running process that finds the server gone (postmaster killed,
  `make db-stop`) starts it again, once, under pgserver's start lock;
- the first `initdb` runs in a temporary folder renamed into place when it is
  complete, so an interrupted one never leaves a half-made data folder; a
  folder that is not a complete cluster is refused with what to do;
- dead processes are pruned from pgserver's list of users of the server, so
  "stop when the last process leaves" still fires after a process was killed.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)


class _QuietWhileReviving(logging.Filter):
    """Drops pgserver's records in a thread that is reviving the server.

    pgserver logs the whole server log at ERROR for every failed start; a process retrying through an outage
    would repeat it per attempt. `revive` logs one line of its own instead.
    """

    active = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.active, "on", False)


_quiet = _QuietWhileReviving()
logging.getLogger("pgserver").addFilter(_quiet)
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
    # Crash recovery starts by syncing the data folder: one syncfs() instead of an fsync() per file (seconds on a
    # busy disk; bench/recovery_bench.py). Linux only; elsewhere PostgreSQL refuses the value, so it is set there.
    **({"recovery_init_sync_method": "syncfs"} if sys.platform == "linux" else {}),
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


class DataFolderError(RuntimeError):
    """The data folder exists but is not a complete PostgreSQL cluster; the message says what to do."""


class ServerUnavailable(RuntimeError):
    """`revive` could not have the server back right now: the caller answers 503 and a later call tries again."""


#: How long the request that finds the server gone waits for it to be ready again before giving up (503).
#: Crash recovery of the embedded server takes well under 1 s (bench/recovery_bench.py); a longer one goes on
#: and a later request joins it.
REVIVE_WAIT_SECONDS = 5.0
#: After a failed attempt to start the server, this process answers at once for this long instead of trying again.
REVIVE_PAUSE_SECONDS = 0.5
#: initdb's arguments, as pgserver gives them.
INITDB_ARGS = ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"]
#: What a complete cluster has: initdb creates template1 (base/1) first, template0 (base/4) and postgres (base/5)
#: last; a folder without them is an interrupted initdb.
CLUSTER_FILES = ("PG_VERSION", "global/pg_control", "base/1", "base/4")

_lock = threading.RLock()
_servers: dict[Path, EmbeddedServer] = {}
_revive_failed_at: dict[Path, float] = {}
_start_failed: set[Path] = set()
_leaving_registered: set[Path] = set()


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
    # folder (gunicorn workers on a fresh machine) would race; the parent is made here, the folder by `_initialise`.
    path.parent.mkdir(parents=True, exist_ok=True)
    import pgserver
    from pgserver._commands import POSTGRES_BIN_PATH

    mode = os.environ.get("MCPADMIN_PG_CLEANUP", "stop")
    if mode not in CLEANUP_MODES:
        raise ValueError(f"MCPADMIN_PG_CLEANUP must be one of {sorted(CLEANUP_MODES)}, not {mode!r}")
    _initialise(path)
    try:
        handle = pgserver.get_server(path, cleanup_mode=CLEANUP_MODES[mode])
    except subprocess.TimeoutExpired:
        handle = _join_slow_start(path)
    info = handle.get_postmaster_info()
    if info.status != "ready":  # joined a server that another process started and that is still recovering
        _wait_until_ready(path)
    _register_leaving(path, handle)
    logger.debug("embedded PostgreSQL at %s (pid %s)", path, info.pid)
    server = EmbeddedServer(
        data_dir=path,
        socket_dir=str(info.socket_dir),
        port=int(info.port or 5432),
        bin_dir=Path(POSTGRES_BIN_PATH),
    )
    _apply_server_settings(server)
    return server


def _start_lock() -> object:
    """pgserver's inter-process lock, under which it starts servers: one start at a time on this machine."""
    from pgserver.postgres_server import PostgresServer

    return PostgresServer._lock


def cluster_problem(path: Path) -> str | None:
    """Why `path` is not a complete PostgreSQL cluster, or None when it is one (or does not exist yet)."""
    if not path.exists():
        return None
    if not path.is_dir():
        return f"{path} is not a folder"
    if not any(path.iterdir()):
        return None
    missing = [name for name in CLUSTER_FILES if not (path / name).exists()]
    if missing:
        return f"{path} is not a complete PostgreSQL cluster (no {', '.join(missing)}): an interrupted initdb?"
    return None


def _initialise(path: Path) -> None:
    """Make `path` a complete cluster, or refuse a folder that is not one.

    initdb writes into a temporary sibling folder renamed into place when it has finished: killed halfway (a
    container stop kills `make migrate`'s whole process group), it leaves only that temporary folder, removed by
    the next start, and never a half-made data folder that the next start would take for a real one.
    """
    if (path / "PG_VERSION").exists() and cluster_problem(path) is None:
        _drop_stale_pid_file(path)
        return
    with _start_lock():
        for leftover in path.parent.glob(f".{path.name}.initdb-*"):  # an interrupted initdb (we hold the lock)
            shutil.rmtree(leftover, ignore_errors=True)
        problem = cluster_problem(path)
        if problem:
            raise DataFolderError(
                f"{problem}. If it holds nothing you need, delete it (rm -rf {path}) and the next start "
                f"initialises it again; otherwise restore it from a backup or point MCPADMIN_PGDATA elsewhere."
            )
        if path.exists() and any(path.iterdir()):
            _drop_stale_pid_file(path)
            return
        _initdb_into_place(path)


def _initdb_into_place(path: Path) -> None:
    from pgserver._commands import POSTGRES_BIN_PATH, initdb

    temporary = path.parent / f".{path.name}.initdb-{os.getpid()}"
    temporary.mkdir()
    user = None
    if os.geteuid() == 0:  # pgserver runs the server as the OS user "pgserver" (PostgreSQL refuses root)
        import pwd
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = "pgserver"
        entry = ensure_user_exists(user)
        ensure_prefix_permissions(temporary)
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = entry or pwd.getpwnam(user)
        os.chown(temporary, entry.pw_uid, entry.pw_gid)
    logger.info("initialising the embedded PostgreSQL in %s", path)
    initdb(INITDB_ARGS, pgdata=temporary, user=user)
    os.rename(temporary, path)  # atomic; replaces the empty folder a concurrent pgserver.get_server may have made
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_postmaster_info(path: Path) -> Any:
    """The postmaster.pid of `path`, or None when there is none or it is not a postmaster's (see below)."""
    from pgserver.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(path)
    except (AssertionError, ValueError, OSError):  # being written, or left by initdb's single-user backend
        return None


def _drop_stale_pid_file(path: Path) -> None:
    """Remove a postmaster.pid that pgserver cannot parse and whose process is gone.

    A standalone backend (initdb's, or `postgres --single`) killed with its process group leaves a short pid file
    with a negative pid; pgserver's parser fails on it with an AssertionError. PostgreSQL itself would ignore a
    stale file; pgserver never gets that far.
    """
    pid_file = path / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return
    if len(lines) >= 8 or not lines:
        return
    with contextlib.suppress(ValueError):
        if process_alive(abs(int(lines[0]))):
            return
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    logger.warning("removed a stale postmaster.pid of a standalone backend from %s", path)


def process_alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie does not (psutil, and so pgserver, count it as running).

    A killed postmaster is a zombie until its parent reaps it (init, or a container's PID 1, which may take its
    time); PostgreSQL itself refuses to start while the pid in postmaster.pid exists, zombie or not.
    """
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _postmaster_alive(info: Any) -> bool:
    return info is not None and process_alive(info.pid)


def _remove_lock_files(path: Path, info: Any) -> None:
    """Remove the lock files of a dead postmaster: its postmaster.pid and its socket's lock file.

    Only needed while the dead postmaster is a zombie, whose pid PostgreSQL takes for a running server ("lock
    file already exists"). Safe under the start lock: the shared-memory interlock still keeps a new postmaster
    from starting while backends of the old one are attached.
    """
    lock_files = [path / "postmaster.pid"]
    if info.socket_dir is not None:
        lock_files.append(Path(info.socket_dir) / f".s.PGSQL.{info.port or 5432}.lock")
    for lock_file in lock_files:
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(lock_file.read_text().split()[0]) == info.pid:
                lock_file.unlink()


def _last_failure(path: Path) -> str:
    """The server log's last FATAL or PANIC line (why it did not start), else its last line."""
    log = path / "log"
    lines = log.read_text(errors="replace").strip().splitlines()[-50:] if log.exists() else []
    failures = [line for line in lines if "FATAL:" in line or "PANIC:" in line]
    return (failures or lines or [""])[-1]


def prune_dead_users(handle: Any) -> list[int]:
    """Remove the pids of processes that no longer exist from pgserver's list of users of the server.

    pgserver stops the server when the last process in `.handle_pids.json` leaves; a killed process (kill -9, an
    OOM kill, a gunicorn worker timed out) never removes itself, and the server would then outlive everyone.
    Call under pgserver's lock. Returns the pids that remain.
    """
    users = handle.global_process_id_list
    pids = users.get()
    alive = [pid for pid in pids if process_alive(pid)]
    if alive != pids:
        users.put(alive)
        logger.info("embedded PostgreSQL: forgot dead processes %s", sorted(set(pids) - set(alive)))
    return alive


def _register_leaving(path: Path, handle: Any) -> None:
    """Before pgserver's exit hook decides whether this is the last process, prune the dead ones.

    atexit runs hooks in reverse order: registered after pgserver's own (made with the handle), this one runs
    first. It also points the handle at the postmaster now running, which another process may have restarted
    (or at none).
    """
    if path in _leaving_registered:
        return
    _leaving_registered.add(path)

    def leaving() -> None:
        with contextlib.suppress(Exception), _start_lock():
            prune_dead_users(handle)
            info = _read_postmaster_info(path)
            # None when it is gone: pgserver would try to stop a dead process and print a traceback
            handle._postmaster_info = info if _postmaster_alive(info) else None

    atexit.register(leaving)
    with _start_lock():
        prune_dead_users(handle)


def revive(data_dir: str | Path) -> EmbeddedServer:
    """After a failed connection: start the server again if its postmaster is gone, wait until it is ready.

    Threads of this process wait on one another (`_lock`); processes on pgserver's start lock, under which the
    postmaster's state is read again, so the server is started once however many noticed. A server that is
    still starting (crash recovery, a restart by another process) is waited for up to `REVIVE_WAIT_SECONDS`
    (`REVIVE_PAUSE_SECONDS` once a call of this outage has given up). Raises `ServerUnavailable` when it is not
    back by then, or could not be started; for `REVIVE_PAUSE_SECONDS` after that this process raises at once.
    """
    path = Path(data_dir).expanduser().resolve()
    with _lock:
        failed_at = _revive_failed_at.get(path)
        if failed_at is not None and time.monotonic() - failed_at < REVIVE_PAUSE_SECONDS:
            raise ServerUnavailable(f"embedded PostgreSQL in {path} could not be started a moment ago")
        # The first request of an outage waits for the restart; during a long one, later requests wait briefly.
        wait = REVIVE_WAIT_SECONDS if failed_at is None else REVIVE_PAUSE_SECONDS
        try:
            server = _revive(path, wait)
        except ServerUnavailable:
            _revive_failed_at[path] = time.monotonic()
            raise
        _revive_failed_at.pop(path, None)
        _servers[path] = server
        return server


def _revive(path: Path, wait: float) -> EmbeddedServer:
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.postgres_server import PostgresServer

    handle = PostgresServer._instances.get(path)
    if handle is None:  # this process never started it (or left it): start as on a first connection
        try:
            return _start(path)
        except Exception as error:
            raise ServerUnavailable(str(error)) from error
    deadline = time.monotonic() + wait
    while True:
        info = _read_postmaster_info(path)
        running = _postmaster_alive(info)
        if running and info.status == "ready":
            break
        if time.monotonic() > deadline:
            state = info.status if running else "not running"
            raise ServerUnavailable(f"embedded PostgreSQL in {path} is not back yet ({state})")
        if running:
            time.sleep(0.05)  # starting (crash recovery), or stopping (`make db-stop`): then started again
        else:
            _restart(path, handle)
    handle._postmaster_info = info  # what pgserver's exit hook stops
    return EmbeddedServer(
        data_dir=path, socket_dir=str(info.socket_dir), port=int(info.port or 5432), bin_dir=Path(POSTGRES_BIN_PATH)
    )


def _restart(path: Path, handle: Any) -> None:
    """Start the postmaster of `path` unless another process did meanwhile (checked under the start lock).

    Logs the first attempt and the first failure of an outage, then only the success: a process retrying
    through a long outage writes two lines, not one per attempt.
    """
    first_attempt = path not in _start_failed
    started = time.monotonic()
    _quiet.active.on = True
    try:
        with _start_lock():
            _drop_stale_pid_file(path)
            info = _read_postmaster_info(path)
            if _postmaster_alive(info):
                return  # another process was first
            if info is not None:
                _remove_lock_files(path, info)
            if first_attempt:
                logger.warning("embedded PostgreSQL in %s is not running: starting it again", path)
            handle.ensure_postgres_running()
            handle.global_process_id_list.get_and_add(os.getpid())
    except subprocess.TimeoutExpired:
        return  # pg_ctl's 10 s are over, the postmaster goes on recovering: `_revive` waits for it
    except Exception as error:
        if first_attempt:
            logger.warning("embedded PostgreSQL in %s could not be started (will retry): %s", path,
                           _last_failure(path) or error)  # fmt: skip
        _start_failed.add(path)
        raise ServerUnavailable(f"embedded PostgreSQL in {path} could not be started") from error
    finally:
        _quiet.active.on = False
    _start_failed.discard(path)
    logger.warning("embedded PostgreSQL in %s started again in %.1f s", path, time.monotonic() - started)


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


def _stop(data_dir: Path) -> int:
    """Fast shutdown of the server of `data_dir`; waits for that postmaster to exit.

    Waits for the process rather than for the pid file to go (`pg_ctl -w`): a running app starts the server
    again at once (`revive`), and pg_ctl would then wait its full minute for a pid file that names the new one.
    """
    from pgserver._commands import pg_ctl

    problem = cluster_problem(data_dir)
    if problem:
        print(f"{problem}: nothing to stop. If it holds nothing you need, delete it (rm -rf {data_dir}).")
        return 1
    _drop_stale_pid_file(data_dir)
    info = _read_postmaster_info(data_dir)
    if not _postmaster_alive(info):
        print(f"not running ({data_dir})")
        return 0
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-W", "stop", "-m", "fast"], pgdata=data_dir, user=user)
    except subprocess.CalledProcessError:
        if process_alive(info.pid):
            print(f"could not stop the server of {data_dir}; see {data_dir / 'log'}")
            return 1
    deadline = time.monotonic() + 60
    while process_alive(info.pid):
        if time.monotonic() > deadline:
            print(f"the server of {data_dir} did not stop within 60 s; see {data_dir / 'log'}")
            return 1
        time.sleep(0.05)
    print(f"stopped ({data_dir})")
    return 0


def main(argv: list[str]) -> int:
    """`python -m mcpadmin.embedded_db stop|psql|url`: operate the embedded server by hand."""
    command = argv[0] if argv else ""
    data_dir = _settings_data_dir()
    if command == "stop":
        return _stop(data_dir)
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
