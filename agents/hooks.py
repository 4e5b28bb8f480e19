"""Where apps above agents react to an agent becoming available for work (heartbeat, enabled, new capabilities).

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
