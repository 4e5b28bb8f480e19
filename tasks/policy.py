"""Who may write which field of a task after its creation: the field table (see `mcpadmin.core.fields`).

Which tasks a caller may edit at all is the object rule of `tasks.services.access.may_manage` (tenant keys;
in a workspace, moderators, and contributors their own tasks). Of such a task, an agent key changes what the
task asks for, never its escalation: `auto_escalate` and `escalation_timeout` are the tenant's oversight of
its agents, and an agent must not switch off the escalation that would take a stuck task away from it.
The status changes only through transitions (`tasks.state_machine`), the assignee through delegation.
"""

from __future__ import annotations

from mcpadmin.core.access import KeyType
from mcpadmin.core.fields import TENANT_AUTHORITY, FieldWriters

_CONTENT = frozenset({*TENANT_AUTHORITY, KeyType.AGENT})

TASK_FIELD_WRITERS: FieldWriters = {
    "title": _CONTENT,
    "description": _CONTENT,
    "priority": _CONTENT,
    "deadline": _CONTENT,
    "auto_escalate": TENANT_AUTHORITY,
    "escalation_timeout": TENANT_AUTHORITY,
}
