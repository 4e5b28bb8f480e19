"""The admin's index is the platform's overview: with known data in the tables, each number is the right count, per
tenant and overall, and each links to an admin list filtered to exactly the rows it counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from apikeys.models import RateLimitRefusal
from mcpadmin.core.actor import Actor
from search.services import collection_create, documents_ingest
from tasks.services import task_delegate, task_escalate
from tenants.services import tenant_config_update
from tests import factories
from tests.search.helpers import corpus
from workflows.models import WorkflowExecution

pytestmark = pytest.mark.django_db

OPERATOR = Actor.for_command("tests")


@pytest.fixture
def known(django_capture_on_commit_callbacks):
    """Two tenants with rows in and out of each window; the expected figures are written out below."""
    now = timezone.now()
    long_ago = now - timedelta(days=2)
    a, b = factories.tenant(name="alpha"), factories.tenant(name="beta")

    online = factories.agent(a, last_seen_at=now)
    offline = factories.agent(a, last_seen_at=now - timedelta(hours=1))
    factories.agent(a)  # never seen: offline
    factories.agent(a, status="disabled", last_seen_at=now)  # seen, but disabled counts as disabled
    helper = factories.agent(b, last_seen_at=now)

    def task(tenant, status, **fields):
        return factories.task(tenant, status=status, **fields)

    for _ in range(3):
        task(a, "pending")
    task(a, "assigned", assigned_agent=online)
    working = task(a, "in_progress", assigned_agent=online)
    task(a, "in_progress", assigned_agent=offline)
    task(a, "completed", completed_at=now - timedelta(hours=1))
    task(a, "completed", completed_at=now - timedelta(minutes=5))
    task(a, "completed", completed_at=long_ago, created_at=long_ago - timedelta(days=1))  # outside 24 h
    task(a, "failed", completed_at=now - timedelta(minutes=30))
    task(a, "cancelled")
    b_pending = [task(b, "pending") for _ in range(2)]
    task(b, "failed", completed_at=now - timedelta(hours=2))

    task_delegate(actor=OPERATOR, task_id=working.pk, to_agent_id=offline.pk, delegation_type="consultation")
    task_delegate(
        actor=OPERATOR, task_id=working.pk, to_agent_id=offline.pk, delegation_type="supervision", now=long_ago
    )
    task_escalate(actor=OPERATOR, task_id=working.pk, force=True)
    task_escalate(actor=OPERATOR, task_id=working.pk, force=True, now=long_ago)
    task_escalate(actor=OPERATOR, task_id=b_pending[0].pk, force=True)
    task_delegate(actor=OPERATOR, task_id=b_pending[1].pk, to_agent_id=helper.pk, delegation_type="collaboration")

    factories.api_key_row(a, key_type="admin", expires_at=now + timedelta(days=3))
    factories.api_key_row(a, key_type="admin", expires_at=now + timedelta(days=10))
    factories.api_key_row(a, key_type="admin", expires_at=now + timedelta(days=3), revoked_at=now, is_active=False)
    factories.api_key_row(a, key_type="admin", expires_at=now - timedelta(days=1))
    factories.api_key_row(a, key_type="user")
    factories.api_key_row(b, key_type="user", expires_at=now + timedelta(days=1))

    # Refusals through the API: a day's quota of 2 calls, then 3 refused calls.
    tenant_config_update(tenant=a, rate_limit_config={"default_requests_per_day": 2})
    client = factories.client_for(factories.issued_key(a, "admin").raw_key)
    statuses = [client.get("/api/v1/agents").status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    RateLimitRefusal.objects.create(
        tenant=a, key_type="admin", minute_start=(now - timedelta(hours=2)).replace(second=0), refusals=7
    )  # outside the hour
    RateLimitRefusal.objects.create(
        tenant=b, key_type="user", minute_start=(now - timedelta(minutes=10)).replace(second=0), refusals=4
    )

    flow_a, flow_b = factories.workflow(a), factories.workflow(b)
    for tenant, flow, status in [(a, flow_a, "running"), (a, flow_a, "running"), (a, flow_a, "failed"),
                                 (a, flow_a, "completed"), (b, flow_b, "failed")]:  # fmt: skip
        WorkflowExecution.objects.create(tenant=tenant, workflow=flow, status=status)

    with django_capture_on_commit_callbacks(execute=True):
        documents_ingest(actor=OPERATOR, tenant=a, collection="docs-a", documents=corpus(3))
        collection_create(actor=OPERATOR, tenant=a, name="empty-a")
        documents_ingest(actor=OPERATOR, tenant=b, collection="docs-b", documents=corpus(2, seed=3))
    return a, b


EXPECTED_ALPHA = {
    "tasks_by_status": {
        "pending": 3,
        "assigned": 1,
        "delegated": 0,
        "in progress": 2,
        "completed": 3,
        "failed": 1,
        "cancelled": 1,
    },
    "activity": {"created": 10, "completed": 2, "failed": 1},
    "agents": {"online": 1, "offline": 2, "disabled": 1},
    "handoffs": {"escalations": 1, "delegations (escalations' included)": 1},
    "keys": {"expiring within 7 days": 1},
    "refusals": {"alpha": 3},
    "executions": {"running": 2, "failed": 1},
    "search": {"documents": 3, "collections": 2},
}
EXPECTED_ALL = {
    "tasks_by_status": {
        "pending": 5,
        "assigned": 1,
        "delegated": 0,
        "in progress": 2,
        "completed": 3,
        "failed": 2,
        "cancelled": 1,
    },
    "activity": {"created": 13, "completed": 2, "failed": 2},
    "agents": {"online": 2, "offline": 2, "disabled": 1},
    "handoffs": {"escalations": 2, "delegations (escalations' included)": 2},
    "keys": {"expiring within 7 days": 2},
    "refusals": {"beta": 4, "alpha": 3},
    "executions": {"running": 2, "failed": 2},
    "search": {"documents": 5, "collections": 3},
}


def figures_of(overview) -> dict[str, dict[str, int]]:
    return {
        section: {figure.label.lower(): figure.value for figure in getattr(overview, section)}
        for section in EXPECTED_ALL
    }


def listed(admin_client, url: str, *, summed: str | None = None) -> int:
    """How many rows the admin list behind a link shows (or the sum of a column over them)."""
    response = admin_client.get(url)
    assert response.status_code == 200, url  # an unknown filter would redirect to ?e=1
    changelist = response.context["cl"]
    if summed:
        return sum(getattr(row, summed) for row in changelist.queryset)
    return changelist.result_count


@pytest.mark.parametrize(("which", "expected"), [("alpha", EXPECTED_ALPHA), ("all", EXPECTED_ALL)])
def test_the_figures_are_the_counts_of_the_tables_and_each_links_to_its_rows(admin_client, known, which, expected):
    alpha, _ = known
    query = f"?tenant={alpha.pk}" if which == "alpha" else ""
    response = admin_client.get(reverse("admin:index") + query)
    assert response.status_code == 200
    overview = response.context["overview"]
    assert figures_of(overview) == expected
    page = response.content.decode()
    for section in expected:
        for figure in getattr(overview, section):
            assert f'href="{escape(figure.url)}">{figure.value}</a>' in page, figure
            summed = "refusals" if section == "refusals" else None
            assert listed(admin_client, figure.url, summed=summed) == figure.value, (section, figure)


def test_the_chart_has_24_hours_and_its_bars_add_up_to_the_totals(admin_client, known):
    alpha, _ = known
    response = admin_client.get(reverse("admin:index") + f"?tenant={alpha.pk}")
    overview = response.context["overview"]
    assert len(overview.hours) == 24
    assert overview.hours[-1].start <= overview.now < overview.hours[-1].start + timedelta(hours=1)
    for total in overview.activity:
        assert sum(bar.figures[total.label].value for bar in overview.hours) == total.value
    busiest = max(overview.hours, key=lambda bar: bar.figures["created"].value).figures["created"]
    assert busiest.value == 10
    assert listed(admin_client, busiest.url) == 10
    assert response.content.decode().count("<rect ") == 72


def test_an_unknown_or_malformed_tenant_shows_all_tenants_with_a_note(admin_client, known):
    for value in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        response = admin_client.get(reverse("admin:index") + f"?tenant={value}")
        assert response.status_code == 200
        assert response.context["overview"].tenant is None
        assert "showing all tenants" in response.content.decode()


def test_the_index_needs_an_operator_login(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
