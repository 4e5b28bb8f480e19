"""Task-creation throughput through the real HTTP stack, with and without Idempotency-Key, in one run.

Starts gunicorn (gthread workers, keep-alive) on a free local port, on the
configured database (the embedded one by default), creates a tenant with
rate limits out of the way and an admin key, then drives
`POST /api/v1/tasks` from concurrent client threads, each with its own
keep-alive connection (http.client). Phases alternate round by round so that
drift and the neighbours' load affect all of them alike:

- `plain`: no Idempotency-Key;
- `unaudited`: the same, with the audit triggers of every tracked table switched off for the phase
  (ALTER TABLE ... DISABLE TRIGGER; the audit context of the request is still set): what the audit trail costs;
- `idempotent`: a fresh Idempotency-Key per request (the normal case);
- `replay`: the same keys and bodies again (every answer a stored 201 replayed).

    .venv/bin/python bench/task_bench.py [--seconds 2] [--rounds 8] [--clients 8] [--workers 3] [--threads 2]

It prints requests/s and latency percentiles per phase, with the machine's
load average, and removes the tenant (and its tasks) it created.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

from common import BASE_DIR, percentile, set_audit_triggers, setup_django, summary

setup_django()

from django.db import connection  # noqa: E402

PHASES = ("plain", "unaudited", "idempotent", "replay")


@dataclass
class PhaseResult:
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen:
    command = [
        str(BASE_DIR / ".venv" / "bin" / "gunicorn"), "mcpadmin.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30",
        "--log-level", "warning", "--timeout", "60",
    ]  # fmt: skip
    env = {**os.environ, "DEBUG": "false", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(command, cwd=BASE_DIR, env=env, stderr=subprocess.DEVNULL)


def wait_until_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


class Client(threading.Thread):
    """One keep-alive connection; per phase, sends requests until told to stop and records their latency."""

    def __init__(self, port: int, raw_key: str, number: int) -> None:
        super().__init__(daemon=True)
        self.port, self.number = port, number
        self.headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}
        self.sent: list[tuple[str, bytes]] = []  # (key, body) of the idempotent phase, replayed later
        self.phase: str | None = None
        self.go, self.done, self.stop = threading.Event(), threading.Event(), threading.Event()
        self.result = PhaseResult()
        self.quit = False
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, body: bytes, key: str | None) -> int:
        headers = self.headers | ({"Idempotency-Key": key} if key else {})
        for attempt in (1, 2):
            try:
                self.conn.request("POST", "/api/v1/tasks", body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def run(self) -> None:
        while True:
            self.go.wait()
            self.go.clear()
            if self.quit:
                return
            result, replay_index, sequence = PhaseResult(), 0, 0
            while not self.stop.is_set():
                if self.phase == "replay":
                    if not self.sent:
                        break
                    key, body = self.sent[replay_index % len(self.sent)]
                    replay_index += 1
                else:
                    sequence += 1
                    body = json.dumps({"title": f"bench {self.number}-{sequence}", "input_data": {"n": sequence}})
                    body = body.encode()
                    key = f"bench-{uuid.uuid4()}" if self.phase == "idempotent" else None
                started = time.perf_counter_ns()
                status = self.post(body, key)
                result.latencies_ms.append((time.perf_counter_ns() - started) / 1e6)
                if status != 201:
                    result.errors += 1
                elif self.phase == "idempotent":
                    self.sent.append((key, body))
            self.result = result
            self.done.set()


def run_phase(clients: list[Client], phase: str, seconds: float) -> PhaseResult:
    set_audit_triggers(phase != "unaudited")
    for client in clients:
        client.phase = "plain" if phase == "unaudited" else phase
        client.stop.clear()
        client.done.clear()
        client.go.set()
    started = time.monotonic()
    time.sleep(seconds)
    for client in clients:
        client.stop.set()
    for client in clients:
        client.done.wait()
    elapsed = time.monotonic() - started
    merged = PhaseResult(seconds=elapsed)
    for client in clients:
        merged.latencies_ms += client.result.latencies_ms
        merged.errors += client.result.errors
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each phase in each round")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    args = parser.parse_args()

    from tenants.services import tenant_create
    from tests.factories import issued_key, unique

    limits = ("default_requests_per_minute", "default_requests_per_hour", "default_requests_per_day")
    tenant = tenant_create(name=unique("bench-tasks"), rate_limit_config=dict.fromkeys(limits, 10_000_000))
    issued = issued_key(tenant, "admin")
    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    load_before = os.getloadavg()
    totals = {phase: PhaseResult() for phase in PHASES}
    try:
        wait_until_ready(port)
        clients = [Client(port, issued.raw_key, number) for number in range(args.clients)]
        for client in clients:
            client.start()
        run_phase(clients, "plain", 1.0)  # warm-up: connections, prepared statements, code paths
        run_phase(clients, "idempotent", 1.0)
        for _ in range(args.rounds):
            for phase in PHASES:
                result = run_phase(clients, phase, args.seconds)
                totals[phase].latencies_ms += result.latencies_ms
                totals[phase].seconds += result.seconds
                totals[phase].errors += result.errors
        for client in clients:
            client.quit = True
            client.go.set()
    finally:
        set_audit_triggers(True)
        server.terminate()
        server.wait(timeout=30)
        load_after = os.getloadavg()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM rate_limit_buckets WHERE bucket LIKE %s", [f"key:{issued.key.id}%"])
            cursor.execute("DELETE FROM tenants WHERE id = %s", [tenant.id])
            cursor.execute("DELETE FROM audit_events WHERE tenant_id = %s", [tenant.id])  # they outlive the tenant

    print(f"database: {connection.settings_dict.get('EMBEDDED_PGDATA') or connection.settings_dict.get('HOST')}")
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads (gthread, keep-alive); {args.clients} clients; "
        f"{args.rounds} rounds of {args.seconds:g} s per phase; {os.cpu_count()} CPUs"
    )
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load_before)}; "
          f"after: {' '.join(f'{v:.2f}' for v in load_after)}")  # fmt: skip
    for phase in PHASES:
        result = totals[phase]
        rate = len(result.latencies_ms) / result.seconds if result.seconds else 0.0
        print(
            f"{phase:11s} {rate:8.1f} req/s  {summary(result.latencies_ms)}  "
            f"({len(result.latencies_ms)} requests, {result.errors} not 201)"
        )
    plain, unaudited, idempotent = totals["plain"], totals["unaudited"], totals["idempotent"]
    if plain.latencies_ms and unaudited.latencies_ms:
        rates = [len(r.latencies_ms) / r.seconds for r in (plain, unaudited)]
        added = [percentile(plain.latencies_ms, q) - percentile(unaudited.latencies_ms, q) for q in (0.5, 0.95)]
        print(
            f"the audit trail adds {added[0]:.2f} ms at p50, {added[1]:.2f} ms at p95 to a task creation; "
            f"throughput {rates[0] / rates[1]:.2f}x of unaudited (p50 ratio "
            f"{percentile(plain.latencies_ms, 0.5) / percentile(unaudited.latencies_ms, 0.5):.2f}; target < 2)"
        )
    if plain.latencies_ms and idempotent.latencies_ms:
        added = [percentile(idempotent.latencies_ms, q) - percentile(plain.latencies_ms, q) for q in (0.5, 0.95)]
        print(f"Idempotency-Key adds {added[0]:.2f} ms at p50, {added[1]:.2f} ms at p95")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
