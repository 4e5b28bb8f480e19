"""Which tables the audit trail records, and what it keeps of each column: one table, one truth.

Every write to a tracked table — by this application, by another service sharing the schema, by hand in psql —
fires an AFTER ROW trigger (installed by django-pgtrigger, declared on proxy models in `audit.models`, so that
the migrations stay in this app) that adds one row to `audit_events`. Who wrote it is read from the
transaction's pghistory context (`audit.context`); a writer that set none is recorded with its database role
and `application_name` only.

Every column of a tracked table but its primary key (the row's identity, `object_id`) is in exactly one list;
`tests/audit/test_tracking.py` holds these lists against the models, so a new column cannot go unclassified:

- `values`: a change names the column and records its old and new value;
- `names_only`: a change names the column, never its value. Secrets (`api_keys.key_hash`, the encrypted
  `tenant_config.service_tokens`) and bulky payloads (document text and vectors, task and execution data):
  the audit says *that* they changed; their values stay in their own table;
- `ignored`: bookkeeping that moves on its own (`updated_at`, heartbeats, last use, derived search data):
  neither compared nor named. An update that changes only these records nothing.

Not tracked: rows that are themselves a history written with the change they record (task transitions and
delegations), idempotency records, rate-limit counters and derived search statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pgtrigger
from django.db import models

from agents.models import Agent
from apikeys.models import ApiKey
from mcpadmin.db import PLATFORM_SCHEMA
from search.models import Collection, Embedding
from tasks.models import Task
from tenants.models import Tenant, TenantConfig
from workflows.models import Workflow, WorkflowExecution
from workspaces.models import Workspace, WorkspaceMember

TIMESTAMPS = ("created_at", "updated_at")
#: The name of the trigger on every tracked table (pgtrigger installs it as `pgtrigger_audit_<hash>`).
TRIGGER_NAME = "audit"
EVENTS_TABLE = f"{PLATFORM_SCHEMA}.audit_events"


@dataclass(frozen=True)
class Tracked:
    """A tracked table. `tenant` is the SQL that gives a row's tenant, `{row}` standing for NEW or OLD."""

    model: type[models.Model]
    values: tuple[str, ...]
    names_only: tuple[str, ...] = ()
    ignored: tuple[str, ...] = TIMESTAMPS
    tenant: str = '{row}."tenant_id"'

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def trigger(self) -> pgtrigger.Trigger:
        """The AFTER INSERT OR UPDATE OR DELETE row trigger that writes this table's events."""
        return pgtrigger.Trigger(
            name=TRIGGER_NAME,
            when=pgtrigger.After,
            operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
            level=pgtrigger.Row,
            declare=[
                ("_changed", "TEXT[]"),
                ("_old", "JSONB"),
                ("_new", "JSONB"),
                ("_object_id", "TEXT"),
                ("_tenant_id", "UUID"),
                ("_context", "JSONB"),
            ],
            func=self._function_body(),
        )

    def _function_body(self) -> str:
        pk = self.model._meta.pk.column
        compared = [*self.values, *self.names_only]
        on_update = []
        for column in compared:
            quoted = _quote(column)
            record = (
                f" _old := _old || jsonb_build_object('{column}', OLD.{quoted});"
                f" _new := _new || jsonb_build_object('{column}', NEW.{quoted});"
                if column in self.values
                else ""
            )
            on_update.append(
                f"IF OLD.{quoted} IS DISTINCT FROM NEW.{quoted} THEN"
                f" _changed := _changed || '{column}'::TEXT;{record} END IF;"
            )
        set_on_insert = ", ".join(f"CASE WHEN NEW.{_quote(c)} IS NULL THEN NULL ELSE '{c}' END" for c in compared)
        return f"""
IF TG_OP = 'UPDATE' THEN
    _changed := '{{}}'; _old := '{{}}'; _new := '{{}}';
    {" ".join(on_update)}
    IF cardinality(_changed) = 0 THEN RETURN NULL; END IF;
    _object_id := NEW.{_quote(pk)}::TEXT; _tenant_id := {self.tenant.format(row="NEW")};
ELSIF TG_OP = 'INSERT' THEN
    _changed := array_remove(ARRAY[{set_on_insert}]::TEXT[], NULL);
    _new := {_values_object(self.values, "NEW")};
    _object_id := NEW.{_quote(pk)}::TEXT; _tenant_id := {self.tenant.format(row="NEW")};
ELSE
    _changed := '{{}}';
    _old := {_values_object(self.values, "OLD")};
    _object_id := OLD.{_quote(pk)}::TEXT; _tenant_id := {self.tenant.format(row="OLD")};
END IF;
_context := NULLIF(current_setting('pghistory.context_metadata', TRUE), '')::JSONB;
INSERT INTO {EVENTS_TABLE} (
    tenant_id, object_type, object_id, action, changed_fields, old_values, new_values, context_id, source,
    key_id, key_type, operator, user_id, request_id, client_ip, db_user, application_name
) VALUES (
    _tenant_id, TG_TABLE_NAME, _object_id, lower(TG_OP), _changed, _old, _new,
    NULLIF(current_setting('pghistory.context_id', TRUE), '')::UUID, _context->>'source',
    (_context->>'key_id')::UUID, _context->>'key_type', _context->>'operator', (_context->>'user_id')::INTEGER,
    _context->>'request_id', _context->>'client_ip', session_user, current_setting('application_name', TRUE)
);
RETURN NULL;
"""


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _values_object(columns: tuple[str, ...], row: str) -> str:
    if not columns:
        return "NULL"
    return "jsonb_build_object(" + ", ".join(f"'{c}', {row}.{_quote(c)}" for c in columns) + ")"


TRACKED: tuple[Tracked, ...] = (
    Tracked(Tenant, values=("name", "is_active"), tenant='{row}."id"'),
    Tracked(
        TenantConfig,
        values=("tenant_id", "rate_limit_config", "allowed_origins", "features"),
        names_only=("service_tokens",),
    ),
    Tracked(
        ApiKey,
        values=(
            "tenant_id", "name", "key_prefix", "key_type", "parent_key_id", "allowed_services", "agent_id",
            "is_active", "revoked_at", "expires_at", "metadata",
        ),
        names_only=("key_hash",),
        ignored=(*TIMESTAMPS, "last_used_at"),
    ),
    Tracked(
        Agent,
        values=("tenant_id", "name", "description", "capabilities", "teams", "status", "metadata"),
        ignored=(*TIMESTAMPS, "last_seen_at"),
    ),
    Tracked(Workspace, values=("tenant_id", "name", "description", "visibility", "team_tags", "settings")),
    Tracked(
        WorkspaceMember,
        values=("workspace_id", "agent_id", "role"),
        # A member row has no tenant of its own; a plain-SQL cascade from a deleted workspace leaves NULL.
        tenant=f'(SELECT w.tenant_id FROM {PLATFORM_SCHEMA}.workspaces w WHERE w.id = {{row}}."workspace_id")',
    ),
    Tracked(
        Task,
        values=(
            "tenant_id", "workspace_id", "title", "status", "priority", "assigned_agent_id", "parent_task_id",
            "created_by_key_id", "workflow_execution_id", "workflow_step", "retry_count", "max_retries", "deadline",
            "assigned_at", "started_at", "completed_at", "auto_escalate", "escalation_timeout", "last_escalated_at",
            "max_delegations", "delegation_count",
        ),
        names_only=("description", "input_data", "output_data", "error_message", "metadata"),
        ignored=(*TIMESTAMPS, "status_changed_at"),
    ),
    Tracked(
        Workflow,
        values=("tenant_id", "name", "description", "type", "status", "version"),
        names_only=("definition",),
    ),
    Tracked(
        WorkflowExecution,
        values=("tenant_id", "workflow_id", "status", "started_at", "completed_at"),
        names_only=("input_data", "output_data", "state", "error_message"),
    ),
    Tracked(
        Collection,
        values=("tenant_id", "name", "text_search_config", "workspace_id"),
        ignored=(*TIMESTAMPS, "folded_writes"),
    ),
    Tracked(
        Embedding,
        values=(
            "tenant_id", "collection", "external_id", "content_hash", "model", "dimension", "agent_id", "task_type",
            "cost_usd", "generation_time_ms",
        ),
        names_only=("content", "embedding", "metadata"),
        ignored=(
            *TIMESTAMPS, "normalized_embedding", "content_tsvector", "term_frequencies", "document_length",
            "idf_scores",
        ),
    ),
)  # fmt: skip
