"""The migrated schema holds every item of ../shared/spec/schema-gap-analysis.md, exactly.

Expected values are written out from the spec here, not derived from the
models, so that a change to a model that drifts from the spec fails.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import DataError, IntegrityError, connection, transaction

pytestmark = pytest.mark.django_db

SPEC_ENUMS = {
    "task_status": ["pending", "assigned", "in_progress", "completed", "failed", "cancelled", "delegated"],
    "task_priority": ["low", "medium", "high", "critical"],
    "workflow_type": ["sequential", "parallel", "conditional", "loop", "map_reduce", "scatter_gather"],
    "workflow_status": ["draft", "active", "paused", "completed", "failed", "archived"],
    "delegation_type": ["handoff", "collaboration", "supervision", "consultation"],
    "workspace_visibility": ["private", "team", "organization", "public"],
    "member_role": ["viewer", "contributor", "moderator", "admin", "owner"],
}

PLATFORM_TABLES = [
    "tenants", "tenant_config", "workspaces", "workspace_members", "api_keys", "agents", "tasks",
    "task_delegation_history", "task_state_transitions", "task_idempotency_keys", "workflows",
    "workflow_executions", "embeddings", "embedding_statistics",
]  # fmt: skip

NOW = "CURRENT_TIMESTAMP"
# (table, column) -> (type as format_type() prints it, NOT NULL, default as pg_get_expr() prints it)
# `uuid_generate_v4()` of the spec is `gen_random_uuid()` here: see mcpadmin.db.fields.uuid_pk.
SPEC_COLUMNS = {
    ("api_keys", "key_type"): ("character varying(50)", True, "'user'::character varying"),
    ("api_keys", "parent_key_id"): ("uuid", False, None),
    ("api_keys", "allowed_services"): ("text[]", False, "'{}'::text[]"),
    ("embeddings", "content_tsvector"): ("tsvector", False, None),
    ("embeddings", "term_frequencies"): ("jsonb", False, None),
    ("embeddings", "document_length"): ("integer", False, None),
    ("embeddings", "idf_scores"): ("jsonb", False, None),
    ("embeddings", "agent_id"): ("character varying(255)", False, None),
    ("embeddings", "task_type"): ("character varying(50)", False, None),
    ("embeddings", "normalized_embedding"): ("vector(1536)", False, None),
    ("embeddings", "cost_usd"): ("numeric(10,6)", False, None),
    ("embeddings", "generation_time_ms"): ("integer", False, None),
    ("embedding_statistics", "collection_id"): ("character varying(255)", True, None),
    ("embedding_statistics", "total_documents"): ("integer", True, "0"),
    ("embedding_statistics", "avg_document_length"): ("double precision", True, "0.0"),
    ("embedding_statistics", "term_document_counts"): ("jsonb", True, "'{}'::jsonb"),
    ("embedding_statistics", "last_updated"): ("timestamp without time zone", True, NOW),
    ("task_delegation_history", "id"): ("uuid", True, "gen_random_uuid()"),
    ("task_delegation_history", "task_id"): ("uuid", True, None),
    ("task_delegation_history", "from_agent_id"): ("uuid", False, None),
    ("task_delegation_history", "to_agent_id"): ("uuid", True, None),
    ("task_delegation_history", "delegation_type"): ("character varying(50)", False, None),
    ("task_delegation_history", "reason"): ("text", False, None),
    ("task_delegation_history", "metadata"): ("jsonb", False, "'{}'::jsonb"),
    ("task_delegation_history", "created_at"): ("timestamp with time zone", False, NOW),
    ("task_state_transitions", "id"): ("uuid", True, "gen_random_uuid()"),
    ("task_state_transitions", "task_id"): ("uuid", True, None),
    ("task_state_transitions", "from_status"): ("task_status", False, None),
    ("task_state_transitions", "to_status"): ("task_status", True, None),
    ("task_state_transitions", "transitioned_by"): ("uuid", False, None),
    ("task_state_transitions", "reason"): ("text", False, None),
    ("task_state_transitions", "metadata"): ("jsonb", False, "'{}'::jsonb"),
    ("task_state_transitions", "created_at"): ("timestamp with time zone", False, NOW),
    ("task_idempotency_keys", "idempotency_key"): ("character varying(255)", True, None),
    ("task_idempotency_keys", "task_id"): ("uuid", True, None),
    ("task_idempotency_keys", "created_at"): ("timestamp with time zone", False, NOW),
    ("task_idempotency_keys", "expires_at"): ("timestamp with time zone", True, None),
    ("tenant_config", "id"): ("uuid", True, "gen_random_uuid()"),
    ("tenant_config", "tenant_id"): ("uuid", True, None),
    ("tenant_config", "rate_limit_config"): ("jsonb", True, "'{}'::jsonb"),
    ("tenant_config", "service_tokens"): ("jsonb", False, "'{}'::jsonb"),
    ("tenant_config", "allowed_origins"): ("text[]", False, "'{}'::text[]"),
    ("tenant_config", "features"): ("jsonb", False, "'{}'::jsonb"),
    ("tenant_config", "created_at"): ("timestamp with time zone", False, NOW),
    ("tenant_config", "updated_at"): ("timestamp with time zone", False, NOW),
    ("tasks", "status"): ("task_status", True, "'pending'::task_status"),
    ("tasks", "priority"): ("task_priority", True, "'medium'::task_priority"),
    ("tasks", "auto_escalate"): ("boolean", False, "false"),
    ("tasks", "escalation_timeout"): ("interval", False, None),
    ("tasks", "max_delegations"): ("integer", False, "3"),
    ("agents", "last_seen_at"): ("timestamp with time zone", False, None),
    ("tenants", "id"): ("uuid", True, "gen_random_uuid()"),
    ("tenants", "name"): ("character varying(255)", True, None),
    ("tenants", "is_active"): ("boolean", True, "true"),
}

# (table, column) -> (referenced table, referenced column, ON DELETE as pg_constraint.confdeltype)
# confdeltype: 'a' NO ACTION, 'c' CASCADE, 'n' SET NULL.
SPEC_FOREIGN_KEYS = {
    ("api_keys", "parent_key_id"): ("api_keys", "id", "a"),
    ("task_delegation_history", "task_id"): ("tasks", "id", "c"),
    ("task_delegation_history", "from_agent_id"): ("agents", "id", "a"),
    ("task_delegation_history", "to_agent_id"): ("agents", "id", "a"),
    ("task_state_transitions", "task_id"): ("tasks", "id", "c"),
    ("task_state_transitions", "transitioned_by"): ("agents", "id", "a"),
    ("task_idempotency_keys", "task_id"): ("tasks", "id", "c"),
    ("tenant_config", "tenant_id"): ("tenants", "id", "c"),
}

# index name -> (table, access method, indexed columns/expression as pg_get_indexdef prints them)
SPEC_INDEXES = {
    "idx_embeddings_fts": ("embeddings", "gin", "(content_tsvector)"),
    "idx_embeddings_agent_id": ("embeddings", "btree", "(agent_id)"),
    "idx_embeddings_task_type": ("embeddings", "btree", "(task_type)"),
    "idx_task_delegation_history_task": ("task_delegation_history", "btree", "(task_id)"),
    "idx_task_state_transitions_task": ("task_state_transitions", "btree", "(task_id)"),
    "idx_task_idempotency_expires": ("task_idempotency_keys", "btree", "(expires_at)"),
    "idx_embeddings_normalized_hnsw": ("embeddings", "hnsw", "(normalized_embedding vector_ip_ops)"),
}

SPEC_FUNCTIONS = {
    "bm25_score": (
        "term_freq double precision, doc_freq integer, total_docs integer, doc_length integer, "
        "avg_doc_length double precision, k1 double precision DEFAULT 1.2, b double precision DEFAULT 0.75",
        "double precision",
        "i",
    ),
    "reciprocal_rank_fusion": (
        "vector_scores double precision[], text_scores double precision[], k integer DEFAULT 60",
        "TABLE(idx integer, score double precision)",
        "v",
    ),
}


def test_every_enum_type_has_the_spec_labels_in_order(sql):
    for name, labels in SPEC_ENUMS.items():
        rows = sql(
            """
            SELECT e.enumlabel FROM pg_enum e
              JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'mcp' AND t.typname = %s ORDER BY e.enumsortorder
            """,
            [name],
        )
        assert [r[0] for r in rows] == labels, name


def test_every_platform_table_is_in_schema_mcp_and_nothing_is_in_public(sql):
    tables = {r[0] for r in sql("SELECT tablename FROM pg_tables WHERE schemaname = 'mcp'")}
    assert set(PLATFORM_TABLES) <= tables
    model_tables = {m._meta.db_table for m in apps.get_models()}
    assert model_tables <= tables, "every model's table lives in schema mcp"
    assert sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


def test_the_connection_search_path_is_mcp_then_public(sql):
    assert sql("SHOW search_path")[0][0].replace(" ", "") == "mcp,public"


def test_spec_columns_have_exact_type_nullability_and_default(sql):
    actual = {
        (table, column): (typ, notnull, default)
        for table, column, typ, notnull, default in sql(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid)
              FROM pg_attribute a
              JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = 'mcp' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
            """
        )
    }
    mismatches = {
        key: (actual.get(key), expected) for key, expected in SPEC_COLUMNS.items() if actual.get(key) != expected
    }
    assert mismatches == {}


def test_api_keys_has_no_column_named_type(sql):
    columns = sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema='mcp' AND table_name='api_keys'"
    )
    assert ("key_type",) in columns
    assert ("type",) not in columns


def test_spec_primary_keys(sql):
    rows = dict(
        sql(
            """
            SELECT c.relname, string_agg(a.attname, ',' ORDER BY a.attnum)
              FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (k.conkey)
             WHERE n.nspname = 'mcp' AND k.contype = 'p' GROUP BY c.relname
            """
        )
    )
    assert rows["embedding_statistics"] == "collection_id"
    assert rows["task_idempotency_keys"] == "idempotency_key"
    for table in ("task_delegation_history", "task_state_transitions", "tenant_config", "api_keys", "tenants"):
        assert rows[table] == "id", table


def test_tenant_config_tenant_id_is_unique(sql):
    rows = sql(
        """
        SELECT 1 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
         WHERE c.relname = 'tenant_config' AND k.contype = 'u'
           AND k.conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'tenant_id')]
        """
    )
    assert rows == [(1,)]


def test_spec_foreign_keys_have_their_target_and_on_delete(sql):
    actual = {
        (table, column): (ref_table, ref_column, action)
        for table, column, ref_table, ref_column, action in sql(
            """
            SELECT c.relname, a.attname, rc.relname, ra.attname, k.confdeltype
              FROM pg_constraint k
              JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
              JOIN pg_class rc ON rc.oid = k.confrelid
              JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
             WHERE n.nspname = 'mcp' AND k.contype = 'f'
            """
        )
    }
    for key, expected in SPEC_FOREIGN_KEYS.items():
        assert actual.get(key) == expected, key


def test_spec_indexes_exist_with_name_method_and_columns(sql):
    rows = {
        name: (table, method, definition)
        for name, table, method, definition in sql(
            """
            SELECT i.relname, t.relname, am.amname, pg_get_indexdef(i.oid)
              FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
              JOIN pg_am am ON am.oid = i.relam JOIN pg_namespace n ON n.oid = i.relnamespace
             WHERE n.nspname = 'mcp' AND x.indisvalid
            """
        )
    }
    for name, (table, method, columns) in SPEC_INDEXES.items():
        assert name in rows, name
        assert rows[name][:2] == (table, method), name
        assert rows[name][2].endswith(f"USING {method} {columns}") or f"USING {method} {columns}" in rows[name][2], (
            rows[name][2]
        )


def test_spec_functions_have_exact_signature_result_and_volatility(sql):
    rows = {
        name: (args, result, volatility, language)
        for name, args, result, volatility, language in sql(
            """
            SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.provolatile, l.lanname
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
             WHERE n.nspname = 'mcp'
            """
        )
    }
    for name, (args, result, volatility) in SPEC_FUNCTIONS.items():
        assert rows[name] == (args, result, volatility, "plpgsql"), name


def test_vector_extension_is_installed(sql):
    assert sql("SELECT extname FROM pg_extension WHERE extname = 'vector'") == [("vector",)]


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("UPDATE mcp.api_keys SET key_type = 'standard'", IntegrityError),  # the legacy value: CHECK
        ("UPDATE mcp.tasks SET status = 'accepted'", DataError),  # not a task_status label
        ("UPDATE mcp.tasks SET priority = 'normal'", DataError),
        ("UPDATE mcp.workspaces SET visibility = 'secret'", DataError),
        ("UPDATE mcp.workspace_members SET role = 'superuser'", DataError),
        ("UPDATE mcp.workflows SET type = 'dag'", DataError),
        ("UPDATE mcp.workflows SET status = 'running'", DataError),
    ],
)
def test_the_database_rejects_values_outside_the_spec(statement, error):
    from tests.sample_data import populate

    populate()
    with pytest.raises(error), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


def test_every_key_type_of_the_spec_is_accepted(sql):
    from tests import factories

    tenant = factories.tenant()
    agent = factories.agent(tenant)
    for key_type in ("user", "admin", "agent", "service", "gateway"):
        factories.api_key_row(tenant, key_type=key_type, agent=agent if key_type == "agent" else None)
    assert sql("SELECT count(*) FROM mcp.api_keys WHERE tenant_id = %s", [tenant.id]) == [(5,)]


def test_other_services_can_insert_with_plain_sql_and_get_the_spec_defaults(sql):
    from tests import factories

    tenant = factories.tenant()
    agent = factories.agent(tenant)
    (task_id, status, priority, auto_escalate, max_delegations) = sql(
        "INSERT INTO mcp.tasks (tenant_id, title) VALUES (%s, 'from another service') "
        "RETURNING id, status, priority, auto_escalate, max_delegations",
        [tenant.id],
    )[0]
    assert (status, priority, auto_escalate, max_delegations) == ("pending", "medium", False, 3)
    sql("INSERT INTO mcp.task_state_transitions (task_id, to_status) VALUES (%s, 'assigned')", [task_id])
    sql("INSERT INTO mcp.task_delegation_history (task_id, to_agent_id) VALUES (%s, %s)", [task_id, agent.id])
    sql(
        "INSERT INTO mcp.task_idempotency_keys (idempotency_key, task_id, tenant_id, request_fingerprint, expires_at)"
        " VALUES ('k', %s, %s, '', now() + interval '1 day')",
        [task_id, tenant.id],
    )
    key = sql(
        "INSERT INTO mcp.api_keys (tenant_id, name, key_prefix, key_hash) VALUES (%s, 'n', 'p', 'h')"
        " RETURNING key_type, allowed_services",
        [tenant.id],
    )
    assert key == [("user", [])]
    statistics = sql(
        "INSERT INTO mcp.embedding_statistics (collection_id) VALUES ('c')"
        " RETURNING total_documents, avg_document_length, term_document_counts, last_updated IS NOT NULL"
    )
    assert statistics == [(0, 0.0, "{}", True)]


def test_deleting_a_task_with_plain_sql_cascades_to_its_history(sql):
    from tasks.models import TaskDelegationHistory, TaskStateTransition
    from tests import factories

    tenant = factories.tenant()
    agent = factories.agent(tenant)
    task = factories.task(tenant)
    TaskStateTransition.objects.create(task=task, to_status="assigned")
    TaskDelegationHistory.objects.create(task=task, to_agent=agent)
    sql("DELETE FROM mcp.tasks WHERE id = %s", [task.id])
    assert sql("SELECT count(*) FROM mcp.task_state_transitions WHERE task_id = %s", [task.id]) == [(0,)]
    assert sql("SELECT count(*) FROM mcp.task_delegation_history WHERE task_id = %s", [task.id]) == [(0,)]


def test_an_agent_in_delegation_history_cannot_be_deleted_with_plain_sql(sql):
    from tasks.models import TaskDelegationHistory
    from tests import factories

    tenant = factories.tenant()
    agent = factories.agent(tenant)
    TaskDelegationHistory.objects.create(task=factories.task(tenant), to_agent=agent)
    with transaction.atomic():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        with pytest.raises(IntegrityError), transaction.atomic():
            sql("DELETE FROM mcp.agents WHERE id = %s", [agent.id])
