"""The admin's index: an overview of the platform, overall or for one tenant (`?tenant=<id>`).

An interface module (like `adminkit`): it reads every app's tables, so no domain module imports it. Every figure
is one aggregate in the database over an indexed range (the last hour, the last 24 hours, a status), never a
Python loop over rows: `bench/dashboard_bench.py` renders the page with 100,000 tasks. Every figure carries the
URL of the admin list that shows the rows it counts, filtered with the same conditions (the changelists accept
those parameters; `tests/test_admin_dashboard.py` holds each count against its list).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, Sum
from django.db.models.functions import Trunc
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent, AgentStatus
from agents.selectors import online_since
from apikeys.models import ApiKey, RateLimitRefusal
from apikeys.selectors import apikeys_expiring_soon
from search.models import Collection, CollectionCounter
from tasks.models import Task, TaskDelegationHistory, TaskStateTransition, TaskStatus
from tenants.models import Tenant
from workflows.models import ExecutionStatus, WorkflowExecution

#: The window of the activity figures and of the chart (24 hourly bars, the current hour last).
ACTIVITY_HOURS = 24
#: The window of the rate-limit refusals.
REFUSAL_WINDOW = timedelta(hours=1)
#: The tenant picker lists at most this many tenants (by name); any tenant can still be chosen by `?tenant=<id>`.
PICKER_LIMIT = 500
#: The chart's series: what each bar counts.
SERIES = ("created", "completed", "failed")


@dataclass(frozen=True)
class Figure:
    """One number of the overview and the filtered admin list that shows the rows it counts."""

    label: str
    value: int
    url: str


@dataclass(frozen=True)
class HourBar:
    """One hour of the chart: tasks created, completed and failed in it, each with its list."""

    start: datetime
    figures: dict[str, Figure]


@dataclass
class Overview:
    tenant: Tenant | None
    now: datetime
    tasks_by_status: list[Figure] = field(default_factory=list)
    activity: list[Figure] = field(default_factory=list)
    hours: list[HourBar] = field(default_factory=list)
    agents: list[Figure] = field(default_factory=list)
    handoffs: list[Figure] = field(default_factory=list)
    keys: list[Figure] = field(default_factory=list)
    refusals: list[Figure] = field(default_factory=list)
    executions: list[Figure] = field(default_factory=list)
    search: list[Figure] = field(default_factory=list)


def _link(changelist: str, **params: Any) -> str:
    """The admin list `changelist` filtered by `params` (datetimes as ISO 8601, which the lookups accept)."""
    query = {name: value.isoformat() if isinstance(value, datetime) else str(value) for name, value in params.items()}
    return f"{reverse(f'admin:{changelist}_changelist')}?{urlencode(query)}"


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def overview(*, tenant: Tenant | None = None, now: datetime | None = None) -> Overview:
    """The figures of the overview, for `tenant` or (None) across all tenants, as of `now`."""
    now = now or timezone.now()
    result = Overview(tenant=tenant, now=now)
    scope = {"tenant__id__exact": tenant.pk} if tenant else {}
    through_task = {"task__tenant__id__exact": tenant.pk} if tenant else {}
    tenant_q = Q(tenant=tenant) if tenant else Q()
    _tasks(result, tenant_q, scope)
    _activity(result, tenant_q, scope)
    _agents(result, tenant_q, scope)
    _handoffs(result, Q(task__tenant=tenant) if tenant else Q(), through_task)
    _keys(result, tenant_q, scope)
    _refusals(result, tenant_q)
    _executions(result, tenant_q, scope)
    _search(result, tenant_q, scope)
    return result


def _tasks(result: Overview, tenant_q: Q, scope: dict[str, Any]) -> None:
    counts = dict(Task.objects.filter(tenant_q).values_list("status").annotate(n=Count("*")).order_by())
    result.tasks_by_status = [
        Figure(status.label, counts.get(status.value, 0), _link("tasks_task", status__exact=status.value, **scope))
        for status in TaskStatus
    ]


def _activity(result: Overview, tenant_q: Q, scope: dict[str, Any]) -> None:
    """Tasks created, completed and failed per hour. Completed and failed count tasks by their current end
    (`completed_at`, status): a failed task that was retried counts where it ends again."""
    first_hour = _hour(result.now) - timedelta(hours=ACTIVITY_HOURS - 1)
    created = dict(
        Task.objects.filter(tenant_q, created_at__gte=first_hour)
        .annotate(hour=Trunc("created_at", "hour", tzinfo=UTC))
        .values_list("hour")
        .annotate(n=Count("*"))
        .order_by()
    )
    ended: dict[tuple[datetime, str], int] = {
        (hour, status): n
        for hour, status, n in Task.objects.filter(
            tenant_q, completed_at__gte=first_hour, status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED]
        )
        .annotate(hour=Trunc("completed_at", "hour", tzinfo=UTC))
        .values_list("hour", "status")
        .annotate(n=Count("*"))
        .order_by()
    }

    def created_link(since: datetime, until: datetime | None = None) -> str:
        return _link("tasks_task", created_at__gte=since, **({"created_at__lt": until} if until else {}), **scope)

    def ended_link(status: str, since: datetime, until: datetime | None = None) -> str:
        window = {"completed_at__gte": since, **({"completed_at__lt": until} if until else {})}
        return _link("tasks_task", status__exact=status, **window, **scope)

    for index in range(ACTIVITY_HOURS):
        start = first_hour + timedelta(hours=index)
        end = start + timedelta(hours=1)
        result.hours.append(
            HourBar(
                start=start,
                figures={
                    "created": Figure("created", created.get(start, 0), created_link(start, end)),
                    "completed": Figure(
                        "completed", ended.get((start, TaskStatus.COMPLETED), 0), ended_link("completed", start, end)
                    ),
                    "failed": Figure(
                        "failed", ended.get((start, TaskStatus.FAILED), 0), ended_link("failed", start, end)
                    ),
                },
            )
        )
    result.activity = [
        Figure("created", sum(created.values()), created_link(first_hour)),
        Figure(
            "completed",
            sum(bar.figures["completed"].value for bar in result.hours),
            ended_link("completed", first_hour),
        ),
        Figure("failed", sum(bar.figures["failed"].value for bar in result.hours), ended_link("failed", first_hour)),
    ]


def _agents(result: Overview, tenant_q: Q, scope: dict[str, Any]) -> None:
    active, seen = Q(status=AgentStatus.ACTIVE), Q(last_seen_at__gte=online_since())
    counts = Agent.objects.filter(tenant_q).aggregate(
        online=Count("pk", filter=active & seen),
        offline=Count("pk", filter=active & ~seen),
        disabled=Count("pk", filter=Q(status=AgentStatus.DISABLED)),
    )
    result.agents = [
        Figure("online", counts["online"], _link("agents_agent", status__exact="active", online="yes", **scope)),
        Figure("offline", counts["offline"], _link("agents_agent", status__exact="active", online="no", **scope)),
        Figure("disabled", counts["disabled"], _link("agents_agent", status__exact="disabled", **scope)),
    ]


def _handoffs(result: Overview, task_tenant_q: Q, through_task: dict[str, Any]) -> None:
    since = result.now - timedelta(hours=ACTIVITY_HOURS)
    escalations = TaskStateTransition.objects.filter(
        task_tenant_q, metadata__event="escalation", created_at__gte=since
    ).count()
    delegations = TaskDelegationHistory.objects.filter(task_tenant_q, created_at__gte=since).count()
    result.handoffs = [
        Figure(
            "escalations",
            escalations,
            _link("tasks_taskstatetransition", event="escalation", created_at__gte=since, **through_task),
        ),
        Figure(
            "delegations (escalations' included)",
            delegations,
            _link("tasks_taskdelegationhistory", created_at__gte=since, **through_task),
        ),
    ]


def _keys(result: Overview, tenant_q: Q, scope: dict[str, Any]) -> None:
    expiring = apikeys_expiring_soon(ApiKey.objects.filter(tenant_q), result.now).count()
    result.keys = [Figure("expiring within 7 days", expiring, _link("apikeys_apikey", state="expiring", **scope))]


def _refusals(result: Overview, tenant_q: Q) -> None:
    since = (result.now - REFUSAL_WINDOW).replace(second=0, microsecond=0)
    rows = (
        RateLimitRefusal.objects.filter(tenant_q, minute_start__gte=since)
        .values_list("tenant_id", "tenant__name")
        .annotate(refused=Sum("refusals"))
        .order_by("-refused", "tenant__name")
    )
    result.refusals = [
        Figure(name, refused, _link("apikeys_ratelimitrefusal", tenant__id__exact=tenant_id, minute_start__gte=since))
        for tenant_id, name, refused in rows
    ]


def _executions(result: Overview, tenant_q: Q, scope: dict[str, Any]) -> None:
    counts = WorkflowExecution.objects.filter(
        tenant_q, status__in=[ExecutionStatus.RUNNING, ExecutionStatus.FAILED]
    ).aggregate(
        running=Count("pk", filter=Q(status=ExecutionStatus.RUNNING)),
        failed=Count("pk", filter=Q(status=ExecutionStatus.FAILED)),
    )
    result.executions = [
        Figure(status, counts[status], _link("workflows_workflowexecution", status__exact=status, **scope))
        for status in ("running", "failed")
    ]


def _search(result: Overview, tenant_q: Q, scope: dict[str, Any]) -> None:
    """Documents from the collections' counter stripes (exact, kept by the services): no scan of the documents."""
    collections = Collection.objects.filter(tenant_q).count()
    counter_q = Q(collection__tenant=result.tenant) if result.tenant else Q()
    documents = CollectionCounter.objects.filter(counter_q).aggregate(n=Sum("documents"))["n"] or 0
    result.search = [
        Figure("documents", documents, _link("search_embedding", **scope)),
        Figure("collections", collections, _link("search_collection", **scope)),
    ]


def chosen_tenant(request: HttpRequest) -> tuple[Tenant | None, str]:
    """The tenant of `?tenant=<id>`, or None for all; a malformed or unknown id is a note, not an error page."""
    raw = request.GET.get("tenant", "").strip()
    if not raw:
        return None, ""
    try:
        tenant = Tenant.objects.filter(pk=uuid.UUID(raw)).first()
    except ValueError:
        tenant = None
    return (tenant, "") if tenant else (None, f"No tenant {raw!r}: showing all tenants.")


def chart_bars(hours: list[HourBar], *, height: int = 120) -> tuple[list[dict[str, Any]], int]:
    """The chart as inline SVG geometry (no script, no CDN): per hour three bars scaled to the busiest one."""
    peak = max((figure.value for bar in hours for figure in bar.figures.values()), default=0) or 1
    bars = []
    for index, bar in enumerate(hours):
        for offset, name in enumerate(SERIES):
            figure = bar.figures[name]
            bar_height = round(figure.value / peak * height) if figure.value else 0
            bars.append(
                {
                    "x": index * 30 + offset * 9 + 2,
                    "y": height - bar_height,
                    "height": bar_height,
                    "series": name,
                    "figure": figure,
                    "start": bar.start,
                }
            )
    return bars, peak


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """unfold's DASHBOARD_CALLBACK: the admin index's context gains the overview (templates/admin/index.html)."""
    tenant, note = chosen_tenant(request)
    figures = overview(tenant=tenant)
    bars, peak = chart_bars(figures.hours)
    context.update(
        overview=figures,
        overview_note=note,
        chart_bars=bars,
        chart_peak=peak,
        chart_hours=[(index * 30, bar.start) for index, bar in enumerate(figures.hours) if index % 4 == 0],
        tenant_choices=list(Tenant.objects.order_by("name").values_list("pk", "name")[:PICKER_LIMIT]),
    )
    return context
