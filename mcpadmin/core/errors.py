"""The domain's errors: raised by services, knowing nothing of HTTP.

The API's exception handler (`mcpadmin.api.errors`) maps each class to a
status code; the admin and commands show `message`. `details` says what is
wrong where (`{field: [messages]}`), `retry_after` when trying again helps.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the platform refused an operation (the request as a whole, or a field of it)."""

    def __init__(self, code: str, message: str, details: Any = None, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.retry_after = retry_after


class NotFound(DomainError):
    """The object does not exist, or the caller may not learn that it does."""

    def __init__(self, message: str = "Not found.", details: Any = None) -> None:
        super().__init__("not_found", message, details)


class Forbidden(DomainError):
    """The caller may see the object but not do this to it."""


class Conflict(DomainError):
    """The object's current state does not allow the operation (or another request changed it first)."""


class Unprocessable(DomainError):
    """Well-formed, but refused as a whole: an idempotency key reused with another body, for instance."""


class PayloadTooLarge(DomainError):
    """The request carries more than the platform accepts at once."""


class RateLimited(DomainError):
    """Too many requests; `retry_after` says when to try again."""


def invalid(field: str, message: str) -> DomainError:
    """The usual 'this field is wrong' error: `details` names the field."""
    return DomainError("invalid", message, {field: [message]})


def not_allowed(message: str, **details: Any) -> Forbidden:
    """The caller's key type or role does not allow this action on an object it may see."""
    return Forbidden("action_not_allowed", message, details)
