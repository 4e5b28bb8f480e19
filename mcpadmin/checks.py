"""System checks: development defaults made loud, and API views that would skip the service permission."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Warning, register
from django.urls import get_resolver
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.views import APIView

from mcpadmin import devsecrets
from mcpadmin.api.auth import ServicePermission
from mcpadmin.api.health import health
from mcpadmin.core.access import KEY_ITSELF, SERVICES


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


#: The only DRF views that opt out of key authentication: liveness, and the API's own schema and docs.
PUBLIC_VIEWS = (health.cls, SpectacularAPIView, SpectacularSwaggerView)


@register()
def every_endpoint_declares_its_service(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every DRF view is a key-authenticated view with a service, or one of PUBLIC_VIEWS; say so at start-up.

    DRF's defaults (settings.REST_FRAMEWORK) already fail closed: a view that declares nothing needs a key and is
    refused to every key. This check names such a view (E001), and a view that opts out of the service
    permission without being a public one (E002).
    """
    allowed = {*SERVICES, KEY_ITSELF}
    errors = []
    for view in dict.fromkeys(_view_classes(get_resolver().url_patterns)):
        if not issubclass(view, APIView) or issubclass(view, PUBLIC_VIEWS):
            continue
        name = f"{view.__module__}.{view.__qualname__}"
        if ServicePermission not in view.permission_classes:
            errors.append(
                Error(
                    f"{name} does not check the key's service permission.",
                    hint="Derive it from mcpadmin.api.views.PlatformViewMixin (only health, schema and docs opt out).",
                    obj=view,
                    id="mcpadmin.E002",
                )
            )
        elif getattr(view, "service", "") not in allowed:
            errors.append(
                Error(
                    f"{name} declares service {getattr(view, 'service', '')!r}.",
                    hint=f"Set `service` to one of {sorted(allowed)}.",
                    obj=view,
                    id="mcpadmin.E001",
                )
            )
    return errors
