"""What workflows add to the hot paths: a task's completion, and an agent's heartbeat.

1. Completion: `task_transition(→ completed)` of a plain task, alternating with
   the same call on the first step's task of a two-step sequential workflow,
   which also locks the execution, records the output, creates the second
   step's task and assigns it (the least-loaded online agent with the
   capability). The difference of the medians is the engine's cost.
2. Heartbeat: `workflow_tasks_dispatch(agent=...)` alone, the query a heartbeat
   adds, with nothing waiting in the tenant and with `--pending` tasks waiting
   for a capability the agent lacks (none qualifies: the usual case).

    .venv/bin/python bench/workflow_bench.py [--tasks 300] [--pending 500]

Service calls in this process (no HTTP), on the configured database (the
embedded one by default); it removes the tenant it creates.
"""

from __future__ import annotations

import argparse
import gc
import time

from common import percentile, setup_django, summary

setup_django()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402


def count_queries(work) -> int:
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        work()
    return len(statements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=300, help="completions of each kind")
    parser.add_argument("--pending", type=int, default=500, help="waiting tasks for the second heartbeat case")
    args = parser.parse_args()

    from mcpadmin.core.actor import Actor
    from tasks.models import Task
    from tasks.services import task_create, task_transition
    from tenants.services import tenant_create
    from tests import factories
    from workflows.services import execution_start, workflow_create, workflow_tasks_dispatch, workflow_transition

    actor = Actor.for_command("bench")
    tenant = tenant_create(name=factories.unique("bench-workflows"))
    try:
        workers = [
            factories.agent(tenant, name=f"worker-{i}", capabilities=["work"], last_seen_at=timezone.now())
            for i in range(5)
        ]
        step = {"title": "step {{ $.input.n }}", "capabilities": ["work"], "input": {"n": "{{ $.input.n }}"}}
        definition = {"steps": [{"id": "first", "task": step}, {"id": "second", "task": step}]}
        flow = workflow_create(
            actor=actor, tenant=tenant, name="bench", workflow_type="sequential", definition=definition
        )
        workflow_transition(actor=actor, workflow_id=flow.pk, to_status="active")

        def in_progress(task_id) -> None:
            task_transition(actor=actor, task_id=task_id, to_status="in_progress")

        plain, stepped = [], []
        for n in range(args.tasks + 20):
            plain_task = task_create(actor=actor, tenant=tenant, title="plain", assigned_agent_id=workers[0].pk).obj
            in_progress(plain_task.pk)
            plain.append(plain_task.pk)
            execution = execution_start(actor=actor, workflow_id=flow.pk, input_data={"n": n}).obj
            first = Task.objects.get(workflow_execution=execution, workflow_step="first")
            in_progress(first.pk)
            stepped.append(first.pk)

        def complete(task_id) -> None:
            task_transition(actor=actor, task_id=task_id, to_status="completed", output_data={"ok": True})

        for _ in range(20):  # warm-up
            complete(plain.pop())
            complete(stepped.pop())
        plain_queries = count_queries(lambda: complete(plain.pop()))
        stepped_queries = count_queries(lambda: complete(stepped.pop()))
        plain_ms, stepped_ms = [], []
        gc.disable()
        for plain_id, stepped_id in zip(plain, stepped, strict=True):
            for task_id, bucket in ((plain_id, plain_ms), (stepped_id, stepped_ms)):
                started = time.perf_counter_ns()
                complete(task_id)
                bucket.append((time.perf_counter_ns() - started) / 1e6)
        gc.enable()

        idle = factories.agent(tenant, name="idle", capabilities=["other"], last_seen_at=timezone.now())
        dispatch_ms: dict[str, list[float]] = {}
        for label, waiting in (("nothing waiting", 0), (f"{args.pending} waiting, none for it", args.pending)):
            if waiting:
                lonely = {"steps": [{"id": "s", "task": {"title": "t", "capabilities": ["rare"]}}]}
                other = workflow_create(
                    actor=actor, tenant=tenant, name="waiting", workflow_type="sequential", definition=lonely
                )
                workflow_transition(actor=actor, workflow_id=other.pk, to_status="active")
                for _ in range(waiting):
                    execution_start(actor=actor, workflow_id=other.pk)
            timings = []
            for _ in range(500):
                started = time.perf_counter_ns()
                workflow_tasks_dispatch(agent=idle)
                timings.append((time.perf_counter_ns() - started) / 1e6)
            dispatch_ms[label] = timings[50:]
    finally:
        tenant.delete()

    print(f"completions of each kind: {len(plain_ms)} (alternating), service calls in-process")
    print(f"plain task              {summary(plain_ms)}  ({plain_queries} queries)")
    print(f"workflow step task      {summary(stepped_ms)}  ({stepped_queries} queries)")
    added = percentile(stepped_ms, 0.5) - percentile(plain_ms, 0.5)
    print(f"added by advancing the execution (lock, state, next step's task, assignment): p50 {added:.3f} ms")
    for label, timings in dispatch_ms.items():
        print(f"heartbeat dispatch, {label:30s} {summary(timings)}")


if __name__ == "__main__":
    main()
