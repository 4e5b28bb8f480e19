"""The row locks of workflows and their executions, in one place, with the lock order they obey.

Lock order: executions (by id), then the workflow, then task rows. An
execution's row is its lock (FOR NO KEY UPDATE: inserting tasks that
reference it is not blocked); a workflow's status is read FOR SHARE by
whatever starts steps, so a pause that has committed stops every later start.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from workflows.models import Workflow, WorkflowExecution


def execution_lock(execution_id: Any) -> None:
    """Locks an execution's row until the transaction ends (nothing happens for a missing one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM workflow_executions WHERE id = %s FOR NO KEY UPDATE", [execution_id])


def executions_locked(executions: QuerySet[WorkflowExecution]) -> QuerySet[WorkflowExecution]:
    """`executions`, locked as `execution_lock` locks one, when evaluated."""
    return executions.select_for_update(no_key=True)


def execution_status_if_free(execution_id: Any) -> str | None:
    """Locks the execution and returns its status, or None when another transaction holds it (SKIP LOCKED)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status FROM workflow_executions WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", [execution_id]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def workflow_share_locked(workflow_id: Any) -> Workflow | None:
    """The workflow, share-locked: a pause or archive waits for this transaction (and then sees what it did)."""
    found = list(Workflow.objects.raw("SELECT * FROM workflows WHERE id = %s FOR SHARE", [workflow_id]))
    return found[0] if found else None


def workflow_status_shared(workflow_id: Any) -> str | None:
    """The workflow's status, read FOR SHARE (the engine reads it once per run)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM workflows WHERE id = %s FOR SHARE", [workflow_id])
        row = cursor.fetchone()
    return row[0] if row else None
