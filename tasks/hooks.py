"""Where apps above tasks react to a task's status change, inside its transaction (workflows advance here).

The task services know nothing of workflows: `workflows.apps.WorkflowsConfig.ready()`
registers its functions here, so the dependency points down. A hook that
raises rolls the status change back with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Called with the task before its row is changed: lock what must be locked first (lock order).
before_status_change: list[Callable[[Any], None]] = []
#: Called with `task=` and `transition=` after the change and its history row are written.
after_status_change: list[Callable[..., None]] = []


def on_status_change(*, before: Callable[[Any], None] | None = None, after: Callable[..., None] | None = None) -> None:
    """Registers hooks (once each: registering again is a no-op, so `ready()` may run twice in tests)."""
    if before is not None and before not in before_status_change:
        before_status_change.append(before)
    if after is not None and after not in after_status_change:
        after_status_change.append(after)
