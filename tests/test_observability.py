"""/metrics (who may read it, and the platform's series after known requests) and the request log lines."""

from __future__ import annotations

import io
import ipaddress
import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from mcpadmin.logs import json_formatter
from mcpadmin.worker import escalate_tasks
from tasks.models import Task
from tenants.services import tenant_config_update
from tests.factories import client_for, issued_key
from tests.tasks.helpers import task_in
from tests.workflows.helpers import active_workflow, run, step_tasks, worker

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def metrics_on(settings):
    settings.MCPADMIN_METRICS_TOKEN = TOKEN
    settings.MCPADMIN_METRICS_ALLOWED_NETWORKS = []
    return settings


def scrape(client: Client | None = None, **headers: str):
    return (client or Client()).get("/metrics", **headers)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_are_off_unless_configured(settings):
    settings.MCPADMIN_METRICS_TOKEN = ""
    settings.MCPADMIN_METRICS_ALLOWED_NETWORKS = []
    assert scrape().status_code == 404


def test_metrics_refuse_a_missing_or_wrong_token(metrics_on):
    missing = scrape()
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert scrape(HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert b"mcpadmin_" not in missing.content
    good = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert good.status_code == 200
    assert good["Content-Type"].startswith("text/plain")


def test_an_address_allow_list_alone_or_with_the_token(settings):
    settings.MCPADMIN_METRICS_TOKEN = ""
    settings.MCPADMIN_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert scrape().status_code == 403  # the test client comes from 127.0.0.1
    assert scrape(REMOTE_ADDR="10.1.2.3").status_code == 200
    settings.MCPADMIN_METRICS_TOKEN = TOKEN
    assert scrape(REMOTE_ADDR="10.1.2.3").status_code == 401
    assert scrape(REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_the_platforms_series_count_known_requests(metrics_on, tenant, admin_key, django_capture_on_commit_callbacks):
    admin_api = client_for(admin_key.raw_key)
    tenant_id = str(tenant.id)
    before = {
        "ok": value("mcpadmin_api_requests_total", service="tasks", key_type="admin", status="200"),
        "unauth": value("mcpadmin_api_requests_total", service="tasks", key_type="none", status="401"),
        "auth": value("mcpadmin_auth_failures_total", reason="invalid_key"),
        "refused": value("mcpadmin_rate_limit_refusals_total", tenant=tenant_id),
        "completed": value("mcpadmin_task_transitions_total", from_status="in_progress", to_status="completed"),
        "delegated": value("mcpadmin_task_delegations_total", delegation_type="consultation"),
        "escalated": value("mcpadmin_task_escalations_total", delegated="no"),
        "steps": value("mcpadmin_workflow_steps_total", outcome="completed"),
        "ingested": value("mcpadmin_documents_ingested_total", result="new"),
        "searches": value("mcpadmin_search_duration_seconds_count", mode="bm25"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.get("/api/v1/tasks").status_code == 200
        assert Client().get("/api/v1/tasks", HTTP_AUTHORIZATION="Bearer mcp_admin_nope").status_code == 401
        doer = worker(tenant, "doer", capabilities=["x"])
        helper = worker(tenant, "helper")
        flow = active_workflow(admin_api, "sequential", {"steps": [{"id": "a", "task": {"title": "a"}}]})
        started = run(admin_api, flow)
        (task,) = step_tasks(started["id"], "a")
        assert task.assigned_agent == doer.agent
        delegation = {"to_agent_id": str(helper.agent.pk), "delegation_type": "consultation"}
        assert admin_api.post(f"/api/v1/tasks/{task.pk}/delegate", delegation, format="json").status_code == 200
        assert doer.complete(task).status_code == 200
        idle = task_in(tenant, "in_progress", auto_escalate=True, escalation_timeout=timedelta(minutes=1))
        Task.objects.filter(pk=idle.pk).update(status_changed_at=timezone.now() - timedelta(minutes=2))
        assert escalate_tasks() == 1  # the worker's job
        documents = [{"content": "boundary layer flow", "model": "m", "embedding": [1, 0, 0]}]
        assert (
            admin_api.post("/api/v1/collections/c/documents", {"documents": documents}, format="json").status_code
            == 200
        )
        assert (
            admin_api.post(
                "/api/v1/search", {"collection": "c", "query": "flow", "mode": "bm25"}, format="json"
            ).status_code
            == 200
        )
        tenant_config_update(tenant=tenant, rate_limit_config={"default_requests_per_minute": 1})
        limited = client_for(issued_key(tenant, "admin").raw_key)
        assert limited.get("/api/v1/me").status_code == 200
        assert limited.get("/api/v1/me").status_code == 429

    body = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    for family in (
        "mcpadmin_api_requests_total",
        "mcpadmin_auth_failures_total",
        "mcpadmin_rate_limit_refusals_total",
        "mcpadmin_task_transitions_total",
        "mcpadmin_task_escalations_total",
        "mcpadmin_task_delegations_total",
        "mcpadmin_workflow_steps_total",
        "mcpadmin_search_duration_seconds_bucket",
        "mcpadmin_documents_ingested_total",
        "django_http_requests_total_by_method_total",
    ):
        assert f"\n{family}{{" in body, family
    ok = value("mcpadmin_api_requests_total", service="tasks", key_type="admin", status="200")
    assert ok == before["ok"] + 2, "the task list and the delegation"
    assert value("mcpadmin_api_requests_total", service="tasks", key_type="none", status="401") == before["unauth"] + 1
    assert value("mcpadmin_auth_failures_total", reason="invalid_key") == before["auth"] + 1
    assert value("mcpadmin_rate_limit_refusals_total", tenant=tenant_id) == before["refused"] + 1
    done = value("mcpadmin_task_transitions_total", from_status="in_progress", to_status="completed")
    assert done == before["completed"] + 1
    assert value("mcpadmin_task_delegations_total", delegation_type="consultation") == before["delegated"] + 1
    assert value("mcpadmin_task_escalations_total", delegated="no") == before["escalated"] + 1
    assert value("mcpadmin_workflow_steps_total", outcome="completed") == before["steps"] + 1
    assert value("mcpadmin_documents_ingested_total", result="new") == before["ingested"] + 1
    assert value("mcpadmin_search_duration_seconds_count", mode="bm25") == before["searches"] + 1
    for line in body.splitlines():  # no unbounded label: no task, key or document id anywhere
        assert str(task.pk) not in line
        assert admin_key.key.key_prefix not in line


def test_a_rolled_back_transition_counts_nothing(tenant, admin_api):
    before = value("mcpadmin_task_transitions_total", from_status="pending", to_status="cancelled")
    task = task_in(tenant, "pending")
    response = admin_api.post(f"/api/v1/tasks/{task.pk}/transition", {"to_status": "cancelled"}, format="json")
    assert response.status_code == 200
    # The test's transaction never commits (pytest-django rolls it back), so nothing was counted.
    assert value("mcpadmin_task_transitions_total", from_status="pending", to_status="cancelled") == before


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_every_request_line_carries_the_request_id_the_response_shows(json_lines, tenant, admin_key):
    admin_api = client_for(admin_key.raw_key)
    responses = [
        admin_api.get("/api/v1/tasks", HTTP_X_REQUEST_ID="caller-chosen-42"),
        admin_api.get("/api/v1/tasks/not-a-uuid"),
        Client().get("/api/v1/tasks", HTTP_AUTHORIZATION="Bearer mcp_admin_nope"),
        admin_api.get("/api/v1/health", HTTP_X_REQUEST_ID="bad id with spaces"),
        Client().get("/admin/login/"),
    ]
    ids = [response["X-Request-ID"] for response in responses]
    assert ids[0] == "caller-chosen-42"
    assert ids[3] != "bad id with spaces"
    assert len(set(ids)) == len(ids)
    lines = json_lines()
    finished = [line for line in lines if line["event"] == "request_finished"]
    assert [line["request_id"] for line in finished] == ids, "one line per request, with its id"
    assert all("request_id" in line for line in lines), [line for line in lines if "request_id" not in line]
    first = finished[0]
    assert first["code"] == 200
    assert first["service"] == "tasks"
    assert first["tenant_id"] == str(tenant.id)
    assert first["key_prefix"] == admin_key.key.key_prefix
    assert first["key_type"] == "admin"
    assert first["latency_ms"] > 0
    assert all(admin_key.raw_key not in json.dumps(line) for line in lines), "the key itself is never logged"
    assert finished[2]["code"] == 401
    assert finished[2]["key_prefix"] is None
