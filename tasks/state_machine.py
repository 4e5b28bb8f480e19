"""The task state machine: the one table of allowed status changes (docs/developers/tasks.md draws it).

Every status change goes through `tasks.services` (`change_status`), which
refuses any pair not listed here with a 409 naming the allowed targets.
Change the table only with a reason in the docs.
"""

from __future__ import annotations

from tasks.models import FINAL_TASK_STATUSES, TaskPriority, TaskStatus

S = TaskStatus

#: from status -> the statuses it may change to.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.PENDING: (S.ASSIGNED, S.CANCELLED),
    S.ASSIGNED: (S.IN_PROGRESS, S.DELEGATED, S.PENDING, S.CANCELLED),
    S.DELEGATED: (S.ASSIGNED, S.IN_PROGRESS, S.CANCELLED),
    S.IN_PROGRESS: (S.COMPLETED, S.FAILED, S.DELEGATED, S.CANCELLED),
    # -> pending is a retry (only while retry_count < max_retries; it increments retry_count).
    # -> cancelled closes a task whose retries are exhausted (docs/developers/tasks.md: why this pair was added).
    S.FAILED: (S.PENDING, S.CANCELLED),
    S.COMPLETED: (),
    S.CANCELLED: (),
}

#: Targets the task's assigned agent may choose through `/transition` (a handoff goes through `/delegate`).
#: `assigned` is accepting a handoff (from `delegated`); `pending` releases the task or retries it.
ASSIGNEE_TARGETS = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.PENDING})

_PRIORITY_ORDER = list(TaskPriority.values)


def allowed_targets(status: str) -> list[str]:
    return list(TRANSITIONS.get(status, ()))


def is_allowed(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, ())


def is_final(status: str) -> bool:
    return status in FINAL_TASK_STATUSES


def next_priority(priority: str) -> str:
    """One level up; `critical` stays `critical`."""
    index = _PRIORITY_ORDER.index(priority)
    return _PRIORITY_ORDER[min(index + 1, len(_PRIORITY_ORDER) - 1)]
