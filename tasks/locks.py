"""The row locks of the tasks table, in one place, with the lock order they obey.

Lock order: a workflow's execution first, then task rows. A status change
takes the execution's lock in the before-status-change hook of `tasks.hooks`
(registered by the workflows app, see `workflows.locks`) before its
compare-and-set UPDATE locks the task's row (`tasks.services.change_status`).
The locks here are taken by operations that change no status (escalation), so
they never hold a task row while waiting for an execution.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from mcpadmin.core.actor import Actor
from tasks.models import FINAL_TASK_STATUSES, Task

_DUE_FOR_ESCALATION_SQL = f"""
SELECT id FROM tasks
 WHERE auto_escalate
   AND status NOT IN ({", ".join(f"'{status}'" for status in FINAL_TASK_STATUSES)})
   AND escalation_timeout IS NOT NULL
   AND status_changed_at + escalation_timeout <= %(now)s
   AND (last_escalated_at IS NULL OR last_escalated_at + escalation_timeout <= %(now)s)
 ORDER BY status_changed_at
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
"""


def task_locked(actor: Actor, task_id: Any) -> Task | None:
    """The task, if `actor` may see it, locked FOR UPDATE until the transaction ends (None otherwise).

    Concurrent writers of the same task (escalation runners) queue here, so
    each sees what the previous one committed. Lock order: an execution lock
    must already be held, or not be needed (no status change follows).
    """
    return Task.objects.visible_to(actor).select_for_update().filter(pk=task_id).first()


def tasks_due_for_escalation_locked(now: datetime, limit: int) -> list[Any]:
    """Ids of at most `limit` tasks due for escalation at `now`, oldest status change first, locked FOR UPDATE
    SKIP LOCKED: a row another runner holds is skipped, so several runners share the work without waiting.

    Lock order: task rows only; escalation changes no status, so no execution lock follows.
    """
    with connection.cursor() as cursor:
        cursor.execute(_DUE_FOR_ESCALATION_SQL, {"now": now, "limit": limit})
        return [row[0] for row in cursor.fetchall()]
