"""Who calls: one type for every caller, whichever door it came in by.

An API key (and the agent an `agent` key acts as), an operator in the admin,
a management command, the workflow engine, or an agent considered as if it
called with its own key (rules about an assignee who is not the caller).
Operators, commands and the engine have no tenant: they act on every
tenant's objects, with the tenant's authority.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcpadmin.core.access import TENANT_AUTHORITY_KEY_TYPES, KeyType
from mcpadmin.core.errors import Forbidden

API = "api"
ADMIN = "admin"
COMMAND = "command"
ENGINE = "workflow"
AGENT_ITSELF = "agent"


@dataclass(frozen=True)
class Actor:
    """The caller. `key` and `agent_record` are the rows behind it, when there are any (never compared)."""

    source: str
    tenant_id: Any = None
    key_id: Any = None
    key_type: str | None = None
    agent_id: Any = None
    operator: str | None = None
    key: Any = field(default=None, compare=False, repr=False)
    agent_record: Any = field(default=None, compare=False, repr=False)

    #: DRF's `request.user` is the actor: it is authenticated by construction.
    is_authenticated = True
    is_anonymous = False

    @classmethod
    def for_key(cls, key: Any) -> Actor:
        """An API caller: its key, its tenant, and the agent an `agent` key acts as."""
        return cls(
            source=API,
            tenant_id=key.tenant_id,
            key_id=key.id,
            key_type=key.key_type,
            agent_id=key.agent_id if key.key_type == KeyType.AGENT else None,
            key=key,
        )

    @classmethod
    def for_operator(cls, username: str) -> Actor:
        return cls(source=ADMIN, operator=username)

    @classmethod
    def for_command(cls, name: str) -> Actor:
        return cls(source=COMMAND, operator=name)

    @classmethod
    def for_engine(cls) -> Actor:
        return cls(source=ENGINE, operator="workflow engine")

    @classmethod
    def for_agent(cls, agent: Any) -> Actor:
        """`agent` as if it called with its own key: what it may do decides whether it may be given work."""
        return cls(
            source=AGENT_ITSELF,
            tenant_id=agent.tenant_id,
            key_type=KeyType.AGENT,
            agent_id=agent.pk,
            agent_record=agent,
        )

    @property
    def tenant(self) -> Any:
        """The caller's tenant row (API callers; None for operators and commands)."""
        return self.key.tenant if self.key is not None else None

    @property
    def agent(self) -> Any:
        """The agent row the caller acts as (its team tags decide `team` workspaces), or None."""
        if self.agent_record is not None:
            return self.agent_record
        return self.key.agent if self.key is not None and self.agent_id is not None else None

    @property
    def is_operator(self) -> bool:
        """Operators, commands and the engine: every tenant."""
        return self.tenant_id is None

    @property
    def manages_tenant(self) -> bool:
        """Admin, service and gateway keys, operators and commands may do anything within their scope."""
        return self.key_type is None or self.key_type in TENANT_AUTHORITY_KEY_TYPES

    @property
    def is_agent(self) -> bool:
        return self.key_type == KeyType.AGENT

    def check_tenant(self, tenant_id: Any) -> None:
        """A key acts only within its own tenant (operators and commands: within any)."""
        if self.tenant_id is not None and self.tenant_id != tenant_id:
            raise Forbidden("cross_tenant", "A key acts only within its own tenant.")

    def audit(self) -> dict[str, Any]:
        """Who acted, for history metadata (`transitioned_by` holds only an agent)."""
        entry: dict[str, Any] = {"source": self.source}
        if self.key_id is not None:
            entry |= {"api_key_id": str(self.key_id), "key_type": self.key_type}
        if self.agent_id is not None:
            entry["agent_id"] = str(self.agent_id)
        if self.operator:
            entry["operator"] = self.operator
        return entry

    def __str__(self) -> str:
        if self.key is not None:
            return f"{self.key_type} key {self.key.key_prefix}"
        return self.operator or self.source
