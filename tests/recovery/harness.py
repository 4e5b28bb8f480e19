"""A throwaway platform for killing things: its own embedded PostgreSQL in a folder of its own, gunicorn, clients.

The recovery tests and `bench/recovery_bench.py` kill postmasters and workers;
they must never kill the server of the test suite (or of `make run`), so
everything here runs in subprocesses with `MCPADMIN_PGDATA` pointing at a
temporary folder of its own (`throwaway_folder`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
#: Small settings for throwaway servers: several run beside the suite's own on a 2-core machine.
THROWAWAY_PG_SETTINGS = "shared_buffers=32MB,effective_cache_size=128MB,maintenance_work_mem=32MB,max_wal_size=256MB"

SEED = """
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tenants.services import tenant_create
from tests.factories import issued_key, unique
limits = ("default_requests_per_minute", "default_requests_per_hour", "default_requests_per_day")
tenant = tenant_create(name=unique("recovery"), rate_limit_config=dict.fromkeys(limits, 10_000_000))
print("KEY", issued_key(tenant, "admin").raw_key)
"""


@contextlib.contextmanager
def throwaway_folder() -> Iterator[Path]:
    """A temporary folder, removed afterwards; whatever server ran in it must be stopped by then."""
    folder = Path(tempfile.mkdtemp(prefix="mcpadmin-recovery-"))
    try:
        yield folder
    finally:
        for pid_file in folder.glob("*/postmaster.pid"):  # a test that failed half-way may leave its server up
            with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
                postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
                if str(folder) in " ".join(postmaster.cmdline()):
                    postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown
                    postmaster.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    at: float  # time.monotonic() when the answer came
    status: int  # 0: no HTTP answer at all (connection refused or reset)
    code: str | None = None  # error.code of the JSON error shape
    retry_after: str | None = None
    body: Any = None
    sent: float = 0.0  # time.monotonic() when the request was sent


@dataclass
class Platform:
    """One data folder, its embedded server (started by whoever connects first) and at most one gunicorn."""

    root: Path
    workers: int = 2
    raw_key: str = ""
    port: int = 0
    gunicorn: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.pgdata = self.root / "pg"
        self.log_path = self.root / "gunicorn.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MCPADMIN_PGDATA": str(self.pgdata),
            "MCPADMIN_PG_CLEANUP": "stop",
            "MCPADMIN_PG_SETTINGS": THROWAWAY_PG_SETTINGS,
            "DEBUG": "false",
            "PYTHONWARNINGS": "ignore",
            "DJANGO_SETTINGS_MODULE": "mcpadmin.settings",
        }

    def manage(self, *args: str, timeout: float = 180, **kwargs: Any) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=timeout, **kwargs,
        )  # fmt: skip

    def prepare(self) -> None:
        """Migrate a new data folder and issue an admin key whose tenant has rate limits out of the way."""
        result = self.manage("shell", "--no-imports", "-c", SEED)
        assert result.returncode == 0, result.stderr
        self.raw_key = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("KEY "))

    # --- gunicorn -------------------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        self.port = free_port()
        command = [
            str(VENV_BIN / "gunicorn"), "mcpadmin.wsgi", "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), "--timeout", "60", "--graceful-timeout", "10",
        ]  # fmt: skip
        with self.log_path.open("a") as log:
            self.gunicorn = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get("/api/v1/health").status == 200 and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not become ready:\n{self.log()}")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM gunicorn (its workers leave as in a normal shutdown) and wait for it."""
        if self.gunicorn is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.gunicorn.send_signal(signal.SIGTERM)
        try:
            self.gunicorn.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.gunicorn.pid, signal.SIGKILL)
            self.gunicorn.wait(10)
        self.gunicorn = None

    def worker_pids(self) -> list[int]:
        if self.gunicorn is None:
            return []
        with contextlib.suppress(psutil.Error):
            return [child.pid for child in psutil.Process(self.gunicorn.pid).children()]
        return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- the database ---------------------------------------------------------------------------------------

    def postmaster_pid(self, folder: Path | None = None) -> int | None:
        try:
            return int(((folder or self.pgdata) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_postmaster(self) -> int:
        pid = self.postmaster_pid()
        assert pid is not None, "no server running"
        os.kill(pid, signal.SIGKILL)
        return pid

    def server_running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def handle_pids(self) -> list[int]:
        try:
            return json.loads((self.pgdata / ".handle_pids.json").read_text())
        except (OSError, ValueError):
            return []

    # --- HTTP -----------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        all_headers = {"Authorization": f"Bearer {self.raw_key}", "Content-Type": "application/json"}
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = time.monotonic()
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            return Answer(time.monotonic(), 0, sent=sent)
        finally:
            conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        code = payload.get("error", {}).get("code") if isinstance(payload, dict) else None
        return Answer(time.monotonic(), response.status, code, response.getheader("Retry-After"), payload, sent)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)


class Traffic:
    """Client threads sending API requests until stopped, every answer recorded.

    `readers` list agents (authentication, rate limit, a query); `writers` create tasks with an Idempotency-Key
    and retry each key until it is answered 201, as a careful client does through an outage; `ingesters` send
    batches of `BATCH` search documents with external ids (`<batch>-<n>`), each retried until answered 200.
    """

    BATCH = 20

    def __init__(self, platform: Platform, *, readers: int = 2, writers: int = 1, ingesters: int = 0) -> None:
        self.platform = platform
        self.answers: list[Answer] = []
        self.keys: list[str] = []  # Idempotency-Keys that were answered 201
        self.batches: list[str] = []  # ingest batches that were answered 200
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, daemon=True) for _ in range(readers)]
        self._threads += [threading.Thread(target=self._write, daemon=True) for _ in range(writers)]
        self._threads += [threading.Thread(target=self._ingest, daemon=True) for _ in range(ingesters)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _read(self) -> None:
        while not self._stop.is_set():
            self._record(self.platform.get("/api/v1/agents"))
            time.sleep(0.01)

    def _write(self) -> None:
        while not self._stop.is_set():
            key = f"recovery-{uuid.uuid4()}"
            body = {"title": f"task {key}"}
            while not self._stop.is_set():
                answer = self.platform.request("POST", "/api/v1/tasks", body, {"Idempotency-Key": key})
                self._record(answer)
                if answer.status == 201:
                    with self._lock:
                        self.keys.append(key)
                    break
                time.sleep(0.05)

    def _ingest(self) -> None:
        while not self._stop.is_set():
            batch = f"b{uuid.uuid4().hex[:12]}"
            documents = [
                {"external_id": f"{batch}-{n}", "content": f"recovery batch {batch} document {n}", "model": "none"}
                for n in range(self.BATCH)
            ]
            while not self._stop.is_set():
                answer = self.platform.request(
                    "POST", "/api/v1/collections/recovery/documents", {"documents": documents}
                )
                self._record(answer)
                if answer.status == 200:
                    with self._lock:
                        self.batches.append(batch)
                    break
                time.sleep(0.05)

    def wait_for(self, predicate: Any, timeout: float) -> Answer | None:
        """The first answer (from now on) for which `predicate` holds, or None after `timeout` seconds."""
        start_index = len(self.answers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((a for a in self.answers[start_index:] if predicate(a)), None)
            if found is not None:
                return found
            time.sleep(0.02)
        return None

    def since(self, moment: float, until: float | None = None) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.at >= moment and (until is None or a.at <= until)]
