"""Rate limiting that is exact across processes and machines: atomic statements in PostgreSQL.

Per key, three fixed windows (minute, hour, day) live in one row of
`rate_limit_buckets`. A call takes one unit from all three in a single
`INSERT ... ON CONFLICT DO UPDATE ... WHERE <every window has room>`: the
row lock that PostgreSQL takes for the upsert serialises concurrent calls of
the same key for the duration of that one statement, so accepted calls never
exceed a limit, and a refused call consumes nothing. The statement runs in
autocommit (the API does not wrap requests in a transaction), so no lock is
held while the request runs.

Endpoint overrides (`requests_per_minute` + `burst_size` for one service)
and the slow-down of failed authentications use GCRA (a token bucket kept as
one timestamp, the "theoretical arrival time"), updated the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from mcpadmin.db.prepared import PreparedStatement
from tenants.config import BurstLimit, Limits

_WINDOW_SQL = """
INSERT INTO rate_limit_buckets AS b
    (bucket, minute_start, minute_hits, hour_start, hour_hits, day_start, day_hits, updated_at)
VALUES ($1, date_trunc('minute', now()), 1, date_trunc('hour', now()), 1, date_trunc('day', now()), 1, now())
ON CONFLICT (bucket) DO UPDATE SET
    minute_hits = CASE WHEN b.minute_start = EXCLUDED.minute_start THEN b.minute_hits + 1 ELSE 1 END,
    hour_hits = CASE WHEN b.hour_start = EXCLUDED.hour_start THEN b.hour_hits + 1 ELSE 1 END,
    day_hits = CASE WHEN b.day_start = EXCLUDED.day_start THEN b.day_hits + 1 ELSE 1 END,
    minute_start = EXCLUDED.minute_start,
    hour_start = EXCLUDED.hour_start,
    day_start = EXCLUDED.day_start,
    updated_at = now()
WHERE (CASE WHEN b.minute_start = EXCLUDED.minute_start THEN b.minute_hits ELSE 0 END) < $2
  AND (CASE WHEN b.hour_start = EXCLUDED.hour_start THEN b.hour_hits ELSE 0 END) < $3
  AND (CASE WHEN b.day_start = EXCLUDED.day_start THEN b.day_hits ELSE 0 END) < $4
RETURNING minute_hits, hour_hits, day_hits, now()
"""

_WINDOW_STATE_SQL = """
SELECT CASE WHEN minute_start = date_trunc('minute', now()) THEN minute_hits ELSE 0 END,
       CASE WHEN hour_start = date_trunc('hour', now()) THEN hour_hits ELSE 0 END,
       CASE WHEN day_start = date_trunc('day', now()) THEN day_hits ELSE 0 END,
       now()
  FROM rate_limit_buckets WHERE bucket = %(bucket)s
"""

_GCRA_SQL = """
INSERT INTO rate_limit_buckets AS b (bucket, tat, updated_at)
VALUES ($1, now() + make_interval(secs => $2), now())
ON CONFLICT (bucket) DO UPDATE SET
    tat = GREATEST(COALESCE(b.tat, now()), now()) + make_interval(secs => $2),
    updated_at = now()
WHERE GREATEST(COALESCE(b.tat, now()), now()) + make_interval(secs => $2) <= now() + make_interval(secs => $3)
RETURNING tat, now()
"""

_GCRA_STATE_SQL = "SELECT tat, now() FROM rate_limit_buckets WHERE bucket = %(bucket)s"

_WINDOW_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_TAKE_WINDOWS = PreparedStatement("mcpadmin_rl_windows", _WINDOW_SQL, param_types=["text", "int", "int", "int"])
_TAKE_GCRA = PreparedStatement("mcpadmin_rl_gcra", _GCRA_SQL, param_types=["text", "float8", "float8"])


@dataclass(frozen=True)
class Quota:
    """One limit's state after a call: what the RateLimit headers describe."""

    name: str
    limit: int
    remaining: int
    reset: int  # seconds until the quota is whole again (fixed window: until it ends)
    window: int  # seconds


@dataclass
class Decision:
    allowed: bool
    quotas: list[Quota] = field(default_factory=list)
    retry_after: int = 0

    def tightest(self) -> Quota | None:
        return min(self.quotas, key=lambda q: (q.remaining, q.window), default=None)

    def headers(self) -> dict[str, str]:
        """The rate-limit headers: the classic trio of the tightest quota, and the IETF draft's structured fields."""
        quota = self.tightest()
        if quota is None:
            return {}
        headers = {
            "RateLimit-Limit": str(quota.limit),
            "RateLimit-Remaining": str(quota.remaining),
            "RateLimit-Reset": str(quota.reset),
            "RateLimit-Policy": ", ".join(f'"{q.name}";q={q.limit};w={q.window}' for q in self.quotas),
            "RateLimit": f'"{quota.name}";r={quota.remaining};t={quota.reset}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _seconds_left(now: datetime, window: str) -> int:
    seconds = _WINDOW_SECONDS[window]
    epoch = now.timestamp()
    return max(1, math.ceil((math.floor(epoch / seconds) + 1) * seconds - epoch))


def take_windows(bucket: str, limits: Limits) -> Decision:
    """Takes one call from the minute, hour and day windows of `bucket`, or refuses without taking any."""
    with connection.cursor() as cursor:
        _TAKE_WINDOWS.execute(cursor, [bucket, limits.per_minute, limits.per_hour, limits.per_day])
        row = cursor.fetchone()
        allowed = row is not None
        if not allowed:
            cursor.execute(_WINDOW_STATE_SQL, {"bucket": bucket})
            row = cursor.fetchone()
    minute_hits, hour_hits, day_hits, now = row
    by_window = {"minute": (limits.per_minute, minute_hits), "hour": (limits.per_hour, hour_hits),
                 "day": (limits.per_day, day_hits)}  # fmt: skip
    quotas = [
        Quota(name, limit, max(0, limit - hits), _seconds_left(now, name), _WINDOW_SECONDS[name])
        for name, (limit, hits) in by_window.items()
    ]
    retry_after = max((q.reset for q in quotas if q.remaining == 0), default=0) if not allowed else 0
    return Decision(allowed=allowed, quotas=quotas, retry_after=retry_after)


def take_burst(bucket: str, burst: BurstLimit, *, name: str = "burst") -> Decision:
    """GCRA: `burst_size` calls at once, then one every 60/`requests_per_minute` seconds."""
    interval = 60.0 / burst.requests_per_minute
    capacity = interval * burst.burst_size
    with connection.cursor() as cursor:
        _TAKE_GCRA.execute(cursor, [bucket, interval, capacity])
        row = cursor.fetchone()
        allowed = row is not None
        if not allowed:
            cursor.execute(_GCRA_STATE_SQL, {"bucket": bucket})
            row = cursor.fetchone()
    tat, now = row
    backlog = max(0.0, (tat - now).total_seconds())
    remaining = max(0, math.floor((capacity - backlog) / interval + 1e-9))
    quota = Quota(name, burst.burst_size, remaining, max(0, math.ceil(backlog)), 60)
    retry_after = 0 if allowed else max(1, math.ceil(backlog + interval - capacity))
    return Decision(allowed=allowed, quotas=[quota], retry_after=retry_after)


def combine(*decisions: Decision) -> Decision:
    return Decision(
        allowed=all(d.allowed for d in decisions),
        quotas=[q for d in decisions for q in d.quotas],
        retry_after=max((d.retry_after for d in decisions), default=0),
    )


def record_auth_failure(client: str) -> Decision:
    """Counts a failed authentication of `client`; refused once it fails faster than the configured pace."""
    per_minute = settings.MCPADMIN_AUTH_FAILURES_PER_MINUTE
    return take_burst(f"authfail:{client}", BurstLimit(per_minute, per_minute), name="auth-failures")


_REFUSAL_SQL = """
INSERT INTO rate_limit_refusals AS r (tenant_id, key_type, minute_start, refusals)
VALUES (%s, %s, date_trunc('minute', now()), 1)
ON CONFLICT (tenant_id, minute_start, key_type) DO UPDATE SET refusals = r.refusals + 1
"""


def record_refusal(tenant_id: object, key_type: str) -> None:
    """Counts one call of the tenant refused by its rate limits (one upsert; a row per tenant, key type and
    minute), so operators see who is being throttled (the admin's overview)."""
    with connection.cursor() as cursor:
        cursor.execute(_REFUSAL_SQL, [tenant_id, key_type])


def purge(older_than: timedelta = timedelta(days=2)) -> int:
    """Deletes buckets untouched for longer than any window (keys gone, clients gone), and refusal counts
    older than that: returns the number of buckets deleted."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM rate_limit_refusals WHERE minute_start < now() - %s", [older_than])
        cursor.execute("DELETE FROM rate_limit_buckets WHERE updated_at < now() - %s", [older_than])
        return cursor.rowcount
