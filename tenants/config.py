"""Shapes of a tenant's configuration, validated on every write, and how they are read.

`rate_limit_config`:

    {
      "default_requests_per_minute": 60,        # defaults: 60 / 1000 / 10000
      "default_requests_per_hour": 1000,
      "default_requests_per_day": 10000,
      "key_type_overrides": {"agent": {"requests_per_minute": 600, "requests_per_hour": 20000}},
      "endpoint_overrides": {"search": {"requests_per_minute": 120, "burst_size": 20}}
    }

Every member is optional; anything else is rejected, with the path of the
offending member in the error. `allowed_origins` is a list of exact browser
origins (`https://app.example.com`, lowercase, no path) or `"*"`.
`features` maps names to JSON scalars; a service whose name maps to `false`
is switched off for the tenant (see `feature_enabled`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mcpadmin.core.access import SERVICES, KeyType
from mcpadmin.core.errors import DomainError

DEFAULT_LIMITS = {"per_minute": 60, "per_hour": 1000, "per_day": 10000}
MAX_LIMIT = 10_000_000

_WINDOWS = {"minute": "per_minute", "hour": "per_hour", "day": "per_day"}
_ORIGIN_RE = re.compile(r"^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(\.[a-z0-9-]+)*(:[0-9]{1,5})?$")
_FEATURE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class Limits:
    per_minute: int
    per_hour: int
    per_day: int


@dataclass(frozen=True)
class BurstLimit:
    requests_per_minute: int
    burst_size: int


class ConfigErrors:
    """Collects `path -> [messages]` and raises one DomainError with all of them."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainError(
                "invalid", "The tenant configuration is not valid; see details for each path.", self.errors
            )


def _positive_int(value: Any, path: str, errors: ConfigErrors) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        errors.add(path, f"must be an integer between 1 and {MAX_LIMIT}")


def _object(value: Any, path: str, errors: ConfigErrors) -> bool:
    if not isinstance(value, dict):
        errors.add(path, "must be an object")
        return False
    return True


def validate_rate_limit_config(value: Any, errors: ConfigErrors, path: str = "rate_limit_config") -> None:
    if not _object(value, path, errors):
        return
    window_keys = {f"default_requests_{p}" for p in _WINDOWS.values()}
    for name, member in value.items():
        member_path = f"{path}.{name}"
        if name in window_keys:
            _positive_int(member, member_path, errors)
        elif name == "key_type_overrides":
            if not _object(member, member_path, errors):
                continue
            for key_type, override in member.items():
                override_path = f"{member_path}.{key_type}"
                if key_type not in KeyType.values:
                    errors.add(override_path, f"unknown key type; expected one of {', '.join(KeyType.values)}")
                    continue
                if not _object(override, override_path, errors):
                    continue
                for field, limit in override.items():
                    if field not in {f"requests_{p}" for p in _WINDOWS.values()}:
                        errors.add(f"{override_path}.{field}", "unknown member; expected requests_per_minute, "
                                   "requests_per_hour or requests_per_day")  # fmt: skip
                    else:
                        _positive_int(limit, f"{override_path}.{field}", errors)
        elif name == "endpoint_overrides":
            if not _object(member, member_path, errors):
                continue
            for service, override in member.items():
                override_path = f"{member_path}.{service}"
                if service not in SERVICES:
                    errors.add(override_path, f"unknown service; expected one of {', '.join(SERVICES)}")
                    continue
                if not _object(override, override_path, errors):
                    continue
                for field in ("requests_per_minute", "burst_size"):
                    if field not in override:
                        errors.add(f"{override_path}.{field}", "is required")
                    else:
                        _positive_int(override[field], f"{override_path}.{field}", errors)
                for field in set(override) - {"requests_per_minute", "burst_size"}:
                    errors.add(f"{override_path}.{field}", "unknown member; expected requests_per_minute, burst_size")
        else:
            errors.add(member_path, "unknown member")


def validate_allowed_origins(value: Any, errors: ConfigErrors, path: str = "allowed_origins") -> None:
    if not isinstance(value, list):
        errors.add(path, "must be a list of origins")
        return
    for index, origin in enumerate(value):
        if origin == "*":
            continue
        if not isinstance(origin, str) or not _ORIGIN_RE.match(origin):
            errors.add(
                f"{path}[{index}]",
                "must be '*' or an origin such as https://app.example.com (lowercase scheme and host, "
                "optional port, no path or trailing slash)",
            )
    if len(set(map(str, value))) != len(value):
        errors.add(path, "contains duplicates")


def validate_features(value: Any, errors: ConfigErrors, path: str = "features") -> None:
    if not _object(value, path, errors):
        return
    for name, flag in value.items():
        if not _FEATURE_RE.match(name):
            errors.add(f"{path}.{name}", "names are lowercase letters, digits, '.', '_' or '-' (at most 100)")
        if not (flag is None or isinstance(flag, bool | int | float | str)):
            errors.add(f"{path}.{name}", "must be a JSON scalar (true/false for switches)")


def limits_for(rate_limit_config: dict[str, Any] | None, key_type: str) -> Limits:
    """The key's windows: its key type's override, else the tenant's defaults, else the platform's."""
    config = rate_limit_config or {}
    override = (config.get("key_type_overrides") or {}).get(key_type) or {}
    values = {
        name: override.get(f"requests_{name}") or config.get(f"default_requests_{name}") or default
        for name, default in DEFAULT_LIMITS.items()
    }
    return Limits(**values)


def burst_limit_for(rate_limit_config: dict[str, Any] | None, service: str) -> BurstLimit | None:
    override = ((rate_limit_config or {}).get("endpoint_overrides") or {}).get(service)
    if not override:
        return None
    return BurstLimit(requests_per_minute=override["requests_per_minute"], burst_size=override["burst_size"])


def feature_enabled(features: dict[str, Any] | None, name: str, *, default: bool = True) -> bool:
    """Is feature `name` on? Only an explicit `false` switches a service off; a missing flag means `default`."""
    value = (features or {}).get(name)
    if isinstance(value, bool):
        return value
    return default
