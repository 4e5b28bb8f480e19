"""The API contract, machine-checked: schemathesis over every operation of /api/schema/, against a live server.

schemathesis' own runner (`st run`, the CLI) fuzzes every operation of the served schema with an admin key:
positive and negative modes, through its examples, coverage and fuzzing phases, with every check (server
errors, status code / content type / response schema / response headers conformance, positive data
acceptance, negative data rejection, missing required header, ignored auth, unsupported methods, ...).
The CLI rather than the pytest plugin: the plugin's lazy fixture schema relies on a pytest internal
(`Node._nodeid`) that pytest 9.2 removed.

The whole budget is `SCHEMATHESIS_BUDGET` below (docs, "The API contract"): deterministic generation (no
seed, no example database, no crash cache carried over), so every run sends the same cases and a failure
reproduces with the printed command. `tests/schemathesis_hooks.py` gives positive cases real ids.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tenants.services import tenant_config_update
from tests import factories

#: The budget of the run, in one place: which phases, which modes and checks, how many fuzzed cases.
SCHEMATHESIS_BUDGET = [
    "--generation-deterministic",  # derandomized, no example database: the same cases every run
    "--max-examples=10",  # per operation and mode, in the fuzzing phase (coverage is deterministic and finite)
    "--mode=all",  # positive and negative
    "--phases=examples,coverage,fuzzing",
    "--checks=all",
]
#: Generous for a loaded CI machine; a slow answer is not what this test is about (bench/ measures speed).
REQUEST_TIMEOUT_SECONDS = 60

#: Rate limits no run comes near: the contract, not the limiter, is under test (tests/apikeys covers the limiter).
UNLIMITED = {
    "default_requests_per_minute": 1_000_000,
    "default_requests_per_hour": 1_000_000,
    "default_requests_per_day": 1_000_000,
}


def test_api_contract(live_server: Any, settings: Any, tmp_path: Path) -> None:
    settings.MCPADMIN_AUTH_FAILURES_PER_MINUTE = 1_000_000
    tenant = factories.service_tenant()
    tenant_config_update(tenant=tenant, rate_limit_config=UNLIMITED)
    key = factories.issued_key(tenant, "admin")
    agent = factories.agent(tenant)
    workspace = factories.workspace(tenant, owner=agent)
    task = factories.task(tenant)
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "MCPADMIN_FUZZ_AGENT_ID": str(agent.id),
        "MCPADMIN_FUZZ_WORKSPACE_ID": str(workspace.id),
        "MCPADMIN_FUZZ_TASK_ID": str(task.id),
    }
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{live_server.url}/api/schema/?format=json",
        f"--url={live_server.url}",
        *SCHEMATHESIS_BUDGET,
        f"--request-timeout={REQUEST_TIMEOUT_SECONDS}",
        "--no-color",
        "--warnings=off",
        f"--report-dir={tmp_path}",
    ]
    run = subprocess.run(
        [*command, "--header", f"Authorization: Bearer {key.raw_key}"],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env=environment,
        cwd=tmp_path,  # schemathesis keeps a crash cache (.schemathesis/) in its working folder: start empty
    )
    assert run.returncode == 0, f"{shlex.join(command)}\n{run.stdout}\n{run.stderr}"
