"""Logging: JSON lines (one object per line) for machines, readable text on a terminal; both through structlog.

`MCPADMIN_LOG_FORMAT` = `json` | `plain` | `auto` (default: plain when stderr is a terminal, else JSON). Records of
the standard `logging` module (Django, gunicorn's error log, the worker) go through the same chain: every line
gets the time (UTC, ISO 8601), level, logger and whatever is bound in the context (the request id during a
request, the job during a worker pass), plus the record's `extra`.
"""

from __future__ import annotations

import sys
from typing import Any

import structlog
from django.db import DatabaseError

from mcpadmin.db import outage


def quiet_outages(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A database outage is one line when it starts and one when it ends (`mcpadmin.db.outage`), not a traceback
    per request: an event whose exception is an outage (django-structlog's `request_failed` of a request that
    failed in a middleware, such as a CORS preflight) keeps its line and loses the traceback."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True:
        exc_info = sys.exc_info()
    error = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if isinstance(error, DatabaseError) and outage.is_unavailable(error):
        event_dict.pop("exc_info", None)
        event_dict.pop("exception", None)
        event_dict["database_unavailable"] = True
    return event_dict


#: Applied to records of the standard library before rendering (structlog's own records have been through them).
_PRE_CHAIN: list[Any] = [
    quiet_outages,
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def use_json(log_format: str) -> bool:
    return log_format == "json" or (log_format != "plain" and not sys.stderr.isatty())


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        foreign_pre_chain=_PRE_CHAIN,
    )


def plain_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ],
        foreign_pre_chain=_PRE_CHAIN,
    )


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING: one console handler, JSON or plain."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "mcpadmin.logs.json_formatter"},
            "plain": {"()": "mcpadmin.logs.plain_formatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json" if use_json(log_format) else "plain"}
        },
        "root": {"handlers": ["console"], "level": level},
        # django.request repeats each 4xx as a warning: the request line (django-structlog) already says it.
        "loggers": {"pgserver": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
    }


def configure_structlog() -> None:
    """structlog's loggers hand their events to the standard library, whose handler renders them."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # first: a DEBUG event (django-structlog's request_started) costs nothing
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            quiet_outages,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
