"""System checks: development defaults made loud, and API views that declare no service."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Warning, register

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


def _view_classes(patterns: list[Any]) -> list[type]:
    found = []
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):  # an include()
            found += _view_classes(pattern.url_patterns)
            continue
        callback = pattern.callback
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if view is not None:
            found.append(view)
    return found


@register()
def every_endpoint_declares_its_service(app_configs: Any, **kwargs: Any) -> list[Error]:
    """An API view without a service would be refused to every key at run time: say so at start-up instead."""
    from django.urls import get_resolver

    from apikeys import policy
    from mcpadmin.api.views import PlatformViewMixin

    allowed = {*policy.SERVICES, policy.KEY_ITSELF}
    errors = []
    for view in dict.fromkeys(_view_classes(get_resolver().url_patterns)):
        if issubclass(view, PlatformViewMixin) and view.service not in allowed:
            errors.append(
                Error(
                    f"{view.__module__}.{view.__qualname__} declares service {view.service!r}.",
                    hint=f"Set `service` to one of {sorted(allowed)}.",
                    obj=view,
                    id="mcpadmin.E001",
                )
            )
    return errors
