"""System checks of the search app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from search.embedder import EMBEDDERS, embedder_installed


@register()
def local_embedder_installed(app_configs: Any, **kwargs: Any) -> list[Error]:
    name = settings.MCPADMIN_SEARCH_EMBEDDER
    if not name:
        return []
    if name not in EMBEDDERS:
        return [Error(f"MCPADMIN_SEARCH_EMBEDDER={name!r} is not one of {sorted(EMBEDDERS)}.", id="search.E001")]
    if not embedder_installed(name):
        return [
            Error(
                f"MCPADMIN_SEARCH_EMBEDDER={name!r} but the package is not installed.",
                hint="pip install -r requirements-embedder.txt, or unset MCPADMIN_SEARCH_EMBEDDER.",
                id="search.E001",
            )
        ]
    return []
