"""Rows in every table of schema `mcp`, for the migration round trip and for demos.

When a migration adds a table, add its rows here: `tests.roundtrip` fails
while any table is empty.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog, AccessLog
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from django.utils import timezone

from apikeys.models import RateLimitBucket, RateLimitRefusal
from mcpadmin.core.actor import Actor
from search.services import DocumentInput, collection_create, documents_ingest
from tasks.models import TaskDelegationHistory, TaskIdempotencyKey, TaskStateTransition
from tests import factories
from workflows.models import WorkflowExecutionIdempotencyKey
from workflows.services import execution_start, workflow_create, workflow_transition
from workspaces.models import WorkspaceMember


@transaction.atomic
def populate() -> None:
    tenant = factories.tenant(name=factories.unique("acme"))
    worker, reviewer = factories.agent(tenant, capabilities=["code"]), factories.agent(tenant)
    space = factories.workspace(tenant, owner=worker, visibility="team", team_tags=["core"])
    WorkspaceMember.objects.create(workspace=space, agent=reviewer, role="viewer")

    parent = factories.api_key_row(tenant, key_type="admin")
    RateLimitBucket.objects.create(bucket=f"key:{parent.id}", minute_hits=1, minute_start=timezone.now())
    minute = timezone.now().replace(second=0, microsecond=0)
    RateLimitRefusal.objects.create(tenant=tenant, key_type="admin", minute_start=minute, refusals=3)
    factories.api_key_row(tenant, key_type="agent", parent_key=parent, agent=worker, allowed_services=["tasks"])

    task = factories.task(tenant, assigned_agent=worker, status="in_progress", workspace=space, created_by_key=parent)
    factories.task(tenant, parent_task=task, escalation_timeout=timedelta(minutes=5), auto_escalate=True)
    TaskStateTransition.objects.create(task=task, from_status="pending", to_status="assigned", transitioned_by=worker)
    TaskDelegationHistory.objects.create(
        task=task, from_agent=worker, to_agent=reviewer, delegation_type="consultation", reason="second opinion"
    )
    TaskIdempotencyKey.objects.create(
        idempotency_key=f"{tenant.id}:sample",
        task=task,
        tenant=tenant,
        request_fingerprint="0" * 64,
        response_status=201,
        response_body=f'{{"id": "{task.id}"}}',
        expires_at=timezone.now() + timedelta(hours=24),
    )
    operator_actor = Actor.for_command("sample_data")
    flow = workflow_create(
        actor=operator_actor,
        tenant=tenant,
        name=factories.unique("review"),
        workflow_type="sequential",
        definition={
            "steps": [{"id": "review", "task": {"title": "Review {{ $.input.pr }}", "capabilities": ["code"]}}]
        },
    )
    workflow_transition(actor=operator_actor, workflow_id=flow.pk, to_status="active")
    execution = execution_start(actor=operator_actor, workflow_id=flow.pk, input_data={"pr": 7}).obj
    WorkflowExecutionIdempotencyKey.objects.create(
        idempotency_key=f"{tenant.id}:sample-run",
        execution=execution,
        tenant=tenant,
        request_fingerprint="0" * 64,
        response_status=201,
        response_body=f'{{"id": "{execution.id}"}}',
        expires_at=timezone.now() + timedelta(hours=24),
    )

    # Through the service: collections, model dimensions, statistics stripes and (on commit) embedding_statistics.
    search_collection = collection_create(
        actor=operator_actor, tenant=tenant, name="docs", text_search_config="simple", workspace_id=space.id
    )
    documents_ingest(
        actor=operator_actor,
        tenant=tenant,
        collection=search_collection.name,
        documents=[
            DocumentInput(
                content="hybrid search with bm25 and vectors",
                model="sample-2d",
                embedding=[0.6, 0.8],
                external_id="sample-1",
                agent_id=str(worker.id),
                task_type="research",
                cost_usd=Decimal("0.000012"),
                generation_time_ms=3,
                metadata={"lang": "en"},
            ),
            DocumentInput(content="reciprocal rank fusion of two lists", model="sample-2d", embedding=[1.0, 0.0]),
        ],
    )

    operator = User.objects.create_superuser(factories.unique("operator"), password=None)
    group = Group.objects.create(name=factories.unique("operators"))
    group.permissions.add(Permission.objects.first())
    operator.groups.add(group)
    operator.user_permissions.add(Permission.objects.last())
    LogEntry.objects.create(
        user=operator,
        content_type=ContentType.objects.get_for_model(tenant),
        object_id=str(tenant.pk),
        object_repr=str(tenant),
        action_flag=ADDITION,
    )
    session = SessionStore()
    session["sample"] = True
    session.create()
    # django-axes: a locked-out login, its failures and expiry, and a successful login
    seen = {"user_agent": "sample", "ip_address": "192.0.2.1", "username": operator.username, "http_accept": "*/*",
            "path_info": "/admin/login/"}  # fmt: skip
    attempt = AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=5)
    AccessAttemptExpiration.objects.create(access_attempt=attempt, expires_at=timezone.now() + timedelta(minutes=30))
    AccessFailureLog.objects.create(**seen, locked_out=True)
    AccessLog.objects.create(**seen)


def empty_tables(schema: str = "mcp") -> list[str]:
    """Tables of `schema` without a row."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema])
        tables = [row[0] for row in cursor.fetchall()]
        empty = []
        for table in tables:
            cursor.execute(f'SELECT EXISTS (SELECT 1 FROM {schema}."{table}")')
            if not cursor.fetchone()[0]:
                empty.append(table)
    return empty
