"""Helpers of the tasks tests: keys acting as agents, tasks put in a given state, threads with their own connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from tasks.models import Task, TaskStatus
from tests import factories

OPERATOR = factories.OPERATOR


def agent_api(tenant: Any, agent: Any = None) -> tuple[Any, Any]:
    """An API client with an agent key, and the agent it acts as."""
    agent = agent or factories.agent(tenant)
    issued = factories.issued_key(tenant, "agent", agent=agent)
    return factories.client_for(issued.raw_key), agent


def key_api(tenant: Any, key_type: str, **fields: Any) -> tuple[Any, Any]:
    issued = factories.issued_key(tenant, key_type, **fields)
    return factories.client_for(issued.raw_key), issued.key


def task_in(tenant: Any, status: str, agent: Any = None, **fields: Any) -> Task:
    """A task inserted directly in `status`, with an assignee when the status needs one."""
    if status != TaskStatus.PENDING and agent is None:
        agent = factories.agent(tenant)
    return factories.task(
        tenant, status=status, assigned_agent=None if status == TaskStatus.PENDING else agent, **fields
    )


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Runs `work(i)` in `count` threads released together; each thread uses (and closes) its own connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001  (re-raised in the main thread)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
