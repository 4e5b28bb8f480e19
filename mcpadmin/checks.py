"""System checks that make development defaults loud."""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning, register

from mcpadmin import devsecrets


@register()
def development_secrets_in_use(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if not devsecrets.generated:
        return []
    names = ", ".join(sorted(devsecrets.generated))
    return [
        Warning(
            f"Using generated DEVELOPMENT secrets for: {names}.",
            hint="They live in var/secrets/ on this machine only. Set them in the environment in production.",
            id="mcpadmin.W001",
        )
    ]
