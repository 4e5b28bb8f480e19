"""Where apps above agents react to an agent becoming available for work (heartbeat, enabled, new capabilities),
or refuse its deletion (tasks: an agent with open tasks stays).

`workflows` registers its dispatch of waiting tasks here in its `AppConfig.ready()`,
so agents know nothing of workflows. Hooks run after the agent's own
transaction has committed, each in transactions of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

agent_available: list[Callable[[Any], None]] = []


def on_agent_available(hook: Callable[[Any], None]) -> None:
    """Registers `hook(agent)` (once: registering again is a no-op)."""
    if hook not in agent_available:
        agent_available.append(hook)


def announce_available(agent: Any) -> None:
    for hook in agent_available:
        hook(agent)


#: Called with an agent about to be deleted (its row locked): raise a DomainError to refuse, saying why.
deletion_guards: list[Callable[[Any], None]] = []


def on_agent_delete(guard: Callable[[Any], None]) -> None:
    """Registers `guard(agent)`, run by `agents.services.agent_delete` before the row goes (once: again is a no-op)."""
    if guard not in deletion_guards:
        deletion_guards.append(guard)


def check_deletable(agent: Any) -> None:
    for guard in deletion_guards:
        guard(agent)
