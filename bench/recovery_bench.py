"""How fast the platform comes back after its embedded PostgreSQL is killed, and what clients see meanwhile.

Runs on a throwaway platform of its own (a temporary data folder, its own
embedded server and gunicorn: `tests/recovery/harness.py`), never on the
development database. Client threads list agents through the API without
pause, and nobody touches the app; then, round by round:

- `kill`: `kill -9` of the postmaster; time from the kill to the first
  request sent after it that is answered 200 (crash recovery included), and
  what every answer in between was;
- `stop`: a clean stop under the running app (SIGINT to the postmaster, the
  fast shutdown `make db-stop` asks for; sent from here so that the figure
  does not include the start-up of a Python process); same figures;
- `anchor`: the same kill with the app idle, the server started again by
  `embedded_db.revive()` called directly in this process and a connection
  made: what the restart itself costs, without detection, HTTP or gunicorn;
- finally a sustained outage (the data folder moved away and the postmaster
  killed, so it cannot be started) of `--outage` seconds: every answer must
  be a 503 `database_unavailable` with Retry-After; counts the log lines.

The throwaway server is stopped and its folder removed at the end.

    .venv/bin/python bench/recovery_bench.py [--rounds 5] [--workers 3] [--clients 3] [--outage 5]
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# This process joins the throwaway server for the anchor; the last process out (this one) stops it.
os.environ["MCPADMIN_PG_CLEANUP"] = "stop"

from mcpadmin import embedded_db
from tests.recovery.harness import Platform, Traffic


def back_after(traffic: Traffic, moment: float, timeout: float = 60) -> float:
    """Seconds from `moment` to the first answer 200 of a request sent after it."""
    answer = traffic.wait_for(lambda a: a.status == 200 and a.sent > moment, timeout)
    if answer is None:
        raise SystemExit(f"nothing came back within {timeout} s")
    return answer.at - moment


def steady(traffic: Traffic) -> None:
    """Wait until the clients are answered 200 again, and a little more."""
    traffic.wait_for(lambda a: a.status == 200, 60)
    time.sleep(0.5)


def tally(answers: list, since: float) -> Counter:
    """Answers to the requests sent from `since` on: "503" (database_unavailable + Retry-After), "200", or else."""
    proper = {503: "503", 200: "200"}
    return Counter(
        proper.get(a.status, str(a.status)) if a.status != 503 or (a.code == "database_unavailable" and a.retry_after)
        else "503 without the error shape"
        for a in answers if a.sent >= since
    )  # fmt: skip


def seconds(values: list[float]) -> str:
    return f"p50 {statistics.median(values):5.2f} s  max {max(values):5.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (make run's default)")
    parser.add_argument("--clients", type=int, default=3, help="client threads listing agents without pause")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds of the sustained outage")
    args = parser.parse_args()
    logging.getLogger("mcpadmin").setLevel(logging.ERROR)  # the anchor's own restarts: counted, not narrated

    root = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # runs after pgserver's exit hook has stopped the server
    platform = Platform(root, workers=args.workers)
    os.environ["MCPADMIN_PG_SETTINGS"] = platform.env["MCPADMIN_PG_SETTINGS"]
    load_before = os.getloadavg()
    print(f"throwaway platform in {root}: migrating ...", flush=True)
    platform.prepare()
    platform.start()
    figures: dict[str, list[float]] = {"kill": [], "stop": [], "anchor": []}
    answers: dict[str, Counter] = {"kill": Counter(), "stop": Counter()}
    try:
        embedded_db.ensure_server(platform.pgdata)
        with Traffic(platform, readers=args.clients, writers=0) as traffic:
            for _ in range(args.rounds):
                steady(traffic)
                platform.kill_postmaster()
                killed_at = time.monotonic()
                figures["kill"].append(back_after(traffic, killed_at))
                answers["kill"] += tally(traffic.since(killed_at, killed_at + figures["kill"][-1] - 1e-6), killed_at)

                steady(traffic)
                os.kill(platform.postmaster_pid(), signal.SIGINT)
                stopped_at = time.monotonic()
                figures["stop"].append(back_after(traffic, stopped_at))
                answers["stop"] += tally(traffic.since(stopped_at, stopped_at + figures["stop"][-1] - 1e-6), stopped_at)

            steady(traffic)
            away = platform.pgdata.with_name("pg.away")
            platform.pgdata.rename(away)
            os.kill(platform.postmaster_pid(away), signal.SIGKILL)
            outage_from = time.monotonic()
            time.sleep(args.outage)
            outage_to = time.monotonic()
            away.rename(platform.pgdata)
            back_after(traffic, outage_to)
            # requests sent in the first half second may have been served by a backend not yet gone
            outage = tally(traffic.since(outage_from, outage_to), outage_from + 0.5)

        for _ in range(args.rounds):  # the app is idle now: this process restarts the server itself
            time.sleep(0.5)
            platform.kill_postmaster()
            killed_at = time.monotonic()
            while True:
                try:
                    server = embedded_db.revive(platform.pgdata)
                    with server.connect("mcpadmin") as conn:
                        conn.execute("SELECT 1")
                    break
                except Exception:  # noqa: BLE001  (orphaned backends still attached: try again)
                    time.sleep(0.05)
            figures["anchor"].append(time.monotonic() - killed_at)
    finally:
        platform.stop()
    log = platform.log()
    load_after = os.getloadavg()

    print(f"\n{args.workers} gunicorn workers, {args.clients} clients, {args.rounds} rounds; "
          f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}")  # fmt: skip
    anchor = statistics.median(figures["anchor"])
    print(f"anchor  kill -9, then revive() + connect here (app idle): {seconds(figures['anchor'])}")
    labels = {"kill": "kill -9 postmaster -> first 200", "stop": "clean stop (SIGINT) -> first 200"}
    for name, label in labels.items():
        others = sum(n for status, n in answers[name].items() if status not in ("503", "200"))
        print(f"{name:6s}  {label:40s}: {seconds(figures[name])}  "
              f"(x{statistics.median(figures[name]) / anchor:.1f} the anchor)")  # fmt: skip
        print(f"        answered before the first 200 of each round: {dict(answers[name])}; other than 503: {others}")
    others = sum(n for status, n in outage.items() if status != "503")
    print(f"outage  {args.outage:.0f} s, server cannot start: answers {dict(outage)}, other than 503: {others}")
    print(f"log     'database unavailable' lines: {log.count('database unavailable:')}, "
          f"'available again': {log.count('database available again')}, tracebacks: {log.count('Traceback')}, "
          f"restarts: {log.count('started again in')}, failed starts: {log.count('could not be started')}")  # fmt: skip


if __name__ == "__main__":
    main()
