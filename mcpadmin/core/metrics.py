"""The platform's own Prometheus series, declared once; the domain and the interfaces count through them.

Every label has a bounded set of values (service names, key types, HTTP statuses, task statuses, delegation types,
step outcomes, search modes, tenant ids): never a key id, task id or anything a caller chooses. What happens inside
a transaction is counted when it commits (`count_on_commit`), so a rolled-back transition counts nothing.

With several processes (gunicorn workers, the worker), set PROMETHEUS_MULTIPROC_DIR to one empty folder for all of
them: prometheus_client then keeps each process's values in files there, and /metrics adds them up.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from prometheus_client import Counter, Histogram

API_REQUESTS = Counter(
    "mcpadmin_api_requests", "API requests by service, key type and HTTP status.", ["service", "key_type", "status"]
)
AUTH_FAILURES = Counter(
    "mcpadmin_auth_failures", "Refused API keys: invalid (401), or throttled after too many (429).", ["reason"]
)
RATE_LIMIT_REFUSALS = Counter(
    "mcpadmin_rate_limit_refusals", "Requests refused 429 by a key's rate limits, by tenant.", ["tenant"]
)
TASK_TRANSITIONS = Counter("mcpadmin_task_transitions", "Committed task status changes.", ["from_status", "to_status"])
TASK_ESCALATIONS = Counter(
    "mcpadmin_task_escalations", "Committed task escalations, with or without a delegation.", ["delegated"]
)
TASK_DELEGATIONS = Counter("mcpadmin_task_delegations", "Committed task delegations.", ["delegation_type"])
WORKFLOW_STEPS = Counter(
    "mcpadmin_workflow_steps", "Workflow steps settled, by outcome (completed, failed, skipped).", ["outcome"]
)
SEARCH_DURATION = Histogram(
    "mcpadmin_search_duration_seconds",
    "Search latency inside the service, by the mode used (bm25, vector, hybrid).",
    ["mode"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DOCUMENTS_INGESTED = Counter(
    "mcpadmin_documents_ingested", "Committed search documents written, new or replacing one.", ["result"]
)
WORKER_PASSES = Counter("mcpadmin_worker_passes", "Passes of the worker's periodic jobs.", ["job", "outcome"])


def count_on_commit(counter: Counter, amount: float = 1, **labels: Any) -> None:
    """Counts when the current transaction commits (at once outside one)."""
    if amount:
        transaction.on_commit(lambda: counter.labels(**labels).inc(amount))
