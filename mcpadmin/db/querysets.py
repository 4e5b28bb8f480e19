"""The one place that restricts (NetBox's RestrictedQuerySet idea): every model that callers reach has
`objects.visible_to(actor)`.

The API's base viewset, the services, the admin's actions and the commands all scope their reads through it, so
a rule about who sees what is written once, beside its model. This base is the rule of most tables: operators,
commands and the workflow engine see every tenant's rows; a key, its own tenant's. Models with a finer rule
(tasks, agents, keys, workspaces, collections) subclass it.
"""

from __future__ import annotations

from typing import Self

from django.db import models

from mcpadmin.core.actor import Actor


class TenantQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> Self:
        """The rows `actor` may see: all for operators (no tenant), else its tenant's."""
        return self if actor.tenant_id is None else self.filter(tenant_id=actor.tenant_id)
