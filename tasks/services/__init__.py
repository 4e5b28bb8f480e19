"""Operations on tasks: the one place that writes them, whichever path (API, admin, command, workflow) asks.

Rules that must hold under concurrency are enforced in one transaction each,
by conditional updates the database decides:

- a status change is a compare-and-set on the status (and assignee) the
  caller saw; of two racing changes from the same state exactly one wins,
  the other gets a 409 (`status.change_status`, the single entry point of
  every status change, which also writes the `task_state_transitions` row);
- a delegation increments `delegation_count` only while it is below
  `max_delegations`, in the same UPDATE (`delegation.task_delegate`);
- an idempotent creation inserts its key in the transaction that creates the
  task; a duplicate waits on the key's unique index, then replays the first
  response (`creation.task_create`);
- escalation runners lock due tasks with SKIP LOCKED (`escalation.task_escalate_due`,
  through `tasks.locks`, which states the lock order).

Who may do what is `access`. Workflows hook in through `tasks.hooks`
(registered by the workflows app): every status change of a workflow's task
locks its execution first and advances it in the same transaction.

This package re-exports the public API, so callers import from `tasks.services`.
"""

from tasks.services.creation import (
    MAX_ESCALATION_TIMEOUT,
    MAX_RETRIES_LIMIT,
    MAX_TITLE_LENGTH,
    insert_task,
    task_create,
    task_update,
)
from tasks.services.delegation import DelegationResult, task_delegate
from tasks.services.escalation import EscalationResult, escalation_due, task_escalate, task_escalate_due
from tasks.services.status import TransitionResult, change_status, task_transition

__all__ = [
    "MAX_ESCALATION_TIMEOUT",
    "MAX_RETRIES_LIMIT",
    "MAX_TITLE_LENGTH",
    "DelegationResult",
    "EscalationResult",
    "TransitionResult",
    "change_status",
    "escalation_due",
    "insert_task",
    "task_create",
    "task_delegate",
    "task_escalate",
    "task_escalate_due",
    "task_transition",
    "task_update",
]
