"""Writes of the search app: collections, documents (ingest, delete) and their statistics.

Who may write is decided here, by the rules of `search/policy.py`: every write that a caller asks for takes it
as `actor` (`mcpadmin.core.actor.Actor`: an API key, or an operator or command without tenant, who may do
anything), so the API, the admin, commands and any other caller get the same answers.

Statistics. The source of truth of a collection's BM25 statistics is two side
tables, written by the same transaction as the documents they describe:
`search_term_stats` (document frequency per term) and
`search_collection_counters` (documents, total length). The same transaction
keeps `search_postings`, the inverted index BM25 queries read: (collection,
term, document) -> term frequency and document length. Each has STAT_STRIPES
rows per key. A writer first takes one free stripe of the collection (an
advisory transaction lock tried stripe by stripe, so concurrent writers get
different stripes and never wait for one another) and adds its deltas (+1 per
term of a new document, -1 per term of a replaced or deleted one) to its
stripe's rows only. The sums over stripes are exact in every snapshot: a
delta is committed or rolled back with its document. Readers sum the stripes
of the few terms of a query.

The spec's `embedding_statistics` row (total, average length, and the whole
term -> document count map as JSONB) is a fold of the side tables, rewritten
after each write commits (`collection_stats_fold`): one fold at a time per
collection (a try-lock; a writer that finds it taken leaves, and the folder
checks again after releasing it, so no write is left unfolded). Writers never
rewrite that row in their own transaction, which would serialise them all on
it.

Upserts. A document with an external id replaces the collection's document
with that id; one without replaces the document of the same model with the
same content (SHA-256) and no external id. The documents to replace are
locked first, in id order; new ones are then inserted, external ids in sorted
order with ON CONFLICT DO NOTHING (a writer that meets another's insert of the
same id waits for it, skips it, and then replaces that document if it can lock
it without waiting, else starts the batch over). No writer waits for a lock
out of order, so writers cannot deadlock each other or deletes (see
`documents_ingest`); a deadlock with some other writer of the table is
detected by PostgreSQL and retries the batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any
from uuid import UUID, uuid4

from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connection, connections, transaction

from mcpadmin.core import metrics
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import Conflict, DomainError, Forbidden, NotFound
from mcpadmin.core.fields import field_refusal
from mcpadmin.core.metrics import count_on_commit
from mcpadmin.core.validation import INT4_MAX, free_json_problem
from search import policy
from search.filters import DocumentFilters
from search.models import NORMALIZED_DIMENSIONS, STAT_STRIPES, Collection, Embedding
from search.statements import (
    COUNTERS_DIFF_SQL,
    POSTINGS_DIFF_SQL,
    STATISTICS_DIFF_SQL,
    collection_params,
    documents_where,
)
from search.vectors import vector_problem, vector_text
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_BATCH_DOCUMENTS = 1000
#: Second key of the advisory lock that lets one process fold a collection's statistics.
FOLD_LOCK = -1
#: Documents without an external id are deduplicated by content under this many advisory locks per model.
CONTENT_LOCK_BUCKETS = 64
_ATTEMPTS = 8


@dataclass(frozen=True)
class DocumentInput:
    """One document of an ingest batch, as the API received it."""

    content: str
    model: str
    external_id: str | None = None
    embedding: list[float] | None = None
    agent_id: str | None = None
    task_type: str | None = None
    cost_usd: Decimal | None = None
    generation_time_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


@dataclass(frozen=True)
class IngestResult:
    collection: Collection
    #: (document id, created?) for each input document, in input order.
    documents: list[tuple[UUID, bool]]


def invalid_item(index: int, field_name: str, message: str) -> DomainError:
    """The 400 of a batch: the index of the failing document and its field."""
    return DomainError(
        "invalid",
        f"Document {index}: {field_name}: {message} Nothing was written.",
        {"documents": {str(index): {field_name: [message]}}},
    )


# --- Collections ---------------------------------------------------------------------------------------------------


def text_search_config_exists(name: str) -> bool:
    """Whether `name` is a text-search configuration (`pg_ts_config`): visible by its name, or schema-qualified."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT EXISTS (SELECT 1 FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
                            WHERE (c.cfgname = %s AND pg_ts_config_is_visible(c.oid))
                               OR n.nspname || '.' || c.cfgname = %s)
            """,
            [name, name],
        )
        return bool(cursor.fetchone()[0])


def validated_collection_name(name: str) -> str:
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= 255
        or name != name.strip()
        or not name.isprintable()
        or "/" in name
    ):
        raise DomainError(
            "invalid",
            'A collection name has 1 to 255 printable characters, no "/", no surrounding spaces.',
            {"collection": ["invalid name"]},
        )
    return name


def _validated_config(text_search_config: str) -> str:
    if not text_search_config_exists(text_search_config):
        raise DomainError(
            "invalid",
            f"{text_search_config!r} is not a text-search configuration of this database (see pg_ts_config).",
            {"text_search_config": [f"unknown configuration {text_search_config!r}"]},
        )
    return text_search_config


@transaction.atomic
def collection_create(
    *, actor: Actor, tenant: Tenant, name: str, text_search_config: str = "english", workspace_id: Any = None
) -> Collection:
    """An empty collection, with the text analyzer its documents will be analysed with (fixed from then on).

    In a workspace (`workspace_id`) only when the caller may write content there (`policy`).
    """
    policy.require_write_access(actor, tenant.id)
    workspace = None
    if workspace_id is not None:
        workspace = policy.workspace_for_new_collection(actor, tenant.id, workspace_id)
    name = validated_collection_name(name)
    text_search_config = _validated_config(text_search_config)
    if Collection.objects.filter(tenant=tenant, name=name).exists():
        raise Conflict("collection_exists", f"The collection {name!r} exists.", {"collection": [name]})
    try:
        with transaction.atomic():
            return Collection.objects.create(
                tenant=tenant, name=name, text_search_config=text_search_config, workspace=workspace
            )
    except IntegrityError as error:  # created concurrently
        raise Conflict("collection_exists", f"The collection {name!r} exists.", {"collection": [name]}) from error


def _collection_for_write(tenant: Tenant, name: str) -> Collection:
    """The tenant's collection `name`, created (analyzer `english`) on first use; concurrent creators agree.

    It is locked FOR KEY SHARE: it cannot be deleted under this write, and writers do not block each other.
    """
    name = validated_collection_name(name)
    query = "SELECT * FROM search_collections WHERE tenant_id = %s AND name = %s FOR KEY SHARE"
    found = list(Collection.objects.raw(query, [tenant.id, name]))
    if found:
        return found[0]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO search_collections (id, tenant_id, name, text_search_config, folded_writes,
                                            created_at, updated_at)
            VALUES (%s, %s, %s, 'english', 0, now(), now())
            ON CONFLICT (tenant_id, name) DO NOTHING
            """,
            [uuid4(), tenant.id, name],
        )
    return next(iter(Collection.objects.raw(query, [tenant.id, name])))


# --- Stripes and statistics ----------------------------------------------------------------------------------------


def _stripe_lock_key(collection_id: UUID) -> str:
    return str(collection_id)


def acquire_stripe(collection_id: UUID) -> int:
    """A stripe of the collection no other writer holds, locked until this transaction ends.

    Tries the stripes in order without waiting, so that n concurrent writers use the first n stripes and
    the side tables stay small (readers sum fewer rows); only when all are taken does it wait for one,
    holding no other lock yet, so it cannot deadlock.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s FROM generate_series(0, %s - 1) AS s
             WHERE pg_try_advisory_xact_lock(hashtext(%s), s)
             LIMIT 1
            """,
            [STAT_STRIPES, _stripe_lock_key(collection_id)],
        )
        row = cursor.fetchone()
        if row is not None:
            return int(row[0])
        stripe = random.randrange(STAT_STRIPES)  # noqa: S311  (load spreading, not security)
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [_stripe_lock_key(collection_id), stripe])
        return stripe


def lock_all_stripes(collection_id: UUID, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Excludes every writer of the collection until this transaction ends (rebuilds)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), s) FROM generate_series(0, %s - 1) AS s ORDER BY s",
            [_stripe_lock_key(collection_id), STAT_STRIPES],
        )


_FOLD_SQL = """
WITH counters AS (
    SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(total_length), 0) AS total_length,
           coalesce(sum(writes), 0) AS writes
      FROM search_collection_counters WHERE collection_id = %(collection_id)s
), terms AS (
    SELECT coalesce(jsonb_object_agg(term, document_count), '{}'::jsonb) AS counts
      FROM (SELECT term, sum(document_count) AS document_count
              FROM search_term_stats WHERE collection_id = %(collection_id)s
             GROUP BY term HAVING sum(document_count) <> 0) AS t
), folded AS (
    INSERT INTO embedding_statistics AS s
           (collection_id, total_documents, avg_document_length, term_document_counts, last_updated)
    SELECT %(statistics_id)s, counters.documents,
           CASE WHEN counters.documents > 0 THEN counters.total_length::float8 / counters.documents ELSE 0 END,
           terms.counts, CURRENT_TIMESTAMP
      FROM counters, terms
    ON CONFLICT (collection_id) DO UPDATE
       SET total_documents = EXCLUDED.total_documents, avg_document_length = EXCLUDED.avg_document_length,
           term_document_counts = EXCLUDED.term_document_counts, last_updated = EXCLUDED.last_updated
)
UPDATE search_collections SET folded_writes = (SELECT writes FROM counters) WHERE id = %(collection_id)s
"""


def _fold_behind(cursor: Any, collection_id: UUID) -> bool:
    cursor.execute(
        """
        SELECT c.folded_writes <> (SELECT coalesce(sum(writes), 0) FROM search_collection_counters
                                    WHERE collection_id = c.id)
          FROM search_collections c WHERE c.id = %s
        """,
        [collection_id],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def collection_stats_fold(*, collection_id: UUID, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Brings `embedding_statistics` up to the side tables; returns whether this call wrote it.

    At most one fold per collection runs at a time; a caller that finds one
    running returns at once (the running one re-checks after it ends).
    """
    wrote = False
    while True:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s), %s)", [str(collection_id), FOLD_LOCK])
            if not cursor.fetchone()[0]:
                return wrote
            if _fold_behind(cursor, collection_id):
                cursor.execute(_FOLD_SQL, {"collection_id": collection_id, "statistics_id": str(collection_id)})
                wrote = True
        with connections[using].cursor() as cursor:
            if not _fold_behind(cursor, collection_id):
                return wrote


def collection_stats_fold_behind(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Folds every collection whose statistics lag behind its side tables; returns how many it wrote.

    A fold normally runs after each write's commit; one that failed (or a process
    that died before it) leaves the collection behind until its next write. The
    worker's periodic job calls this so that a quiet collection catches up too.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id FROM search_collections c
             WHERE c.folded_writes <> (SELECT coalesce(sum(writes), 0) FROM search_collection_counters
                                        WHERE collection_id = c.id)
            """
        )
        behind = [row[0] for row in cursor.fetchall()]
    return sum(collection_stats_fold(collection_id=collection_id, using=using) for collection_id in behind)


def _fold_after_commit(collection_id: UUID) -> None:
    def fold() -> None:
        try:
            collection_stats_fold(collection_id=collection_id)
        except Exception:  # the write is committed; the next write (or rebuild_search_stats) folds again
            logger.exception("folding the statistics of collection %s failed", collection_id)

    transaction.on_commit(fold)


# --- Ingest --------------------------------------------------------------------------------------------------------


def _check_batch(documents: Sequence[DocumentInput]) -> None:
    if not documents:
        raise DomainError("invalid", "A batch needs at least one document.", {"documents": ["empty batch"]})
    if len(documents) > MAX_BATCH_DOCUMENTS:
        raise DomainError(
            "batch_too_large",
            f"A batch holds at most {MAX_BATCH_DOCUMENTS} documents; this one has {len(documents)}.",
            {"documents": [f"at most {MAX_BATCH_DOCUMENTS} documents"], "limit": MAX_BATCH_DOCUMENTS},
        )
    external_ids: dict[str, int] = {}
    content_keys: dict[tuple[str, str], int] = {}
    dimensions: dict[str, tuple[int, int]] = {}
    for index, document in enumerate(documents):
        if not document.content or not document.content.strip():
            raise invalid_item(index, "content", "Content must not be empty.")
        if not document.model or not document.model.strip():
            raise invalid_item(index, "model", "A document names the model of its embedding.")
        if document.generation_time_ms is not None and not 0 <= document.generation_time_ms <= INT4_MAX:
            raise invalid_item(index, "generation_time_ms", f"An integer from 0 to {INT4_MAX}.")
        if problem := free_json_problem(document.metadata or {}, "metadata"):
            raise invalid_item(index, "metadata", problem)
        if document.embedding is not None:
            problem = vector_problem(document.embedding)
            if problem:
                raise invalid_item(index, "embedding", problem)
            seen = dimensions.setdefault(document.model, (len(document.embedding), index))
            if seen[0] != len(document.embedding):
                raise invalid_item(
                    index,
                    "embedding",
                    f"Model {document.model!r} has dimension {seen[0]} in document {seen[1]}, "
                    f"{len(document.embedding)} here.",
                )
        if document.external_id is not None:
            first = external_ids.setdefault(document.external_id, index)
            if first != index:
                raise invalid_item(index, "external_id", f"Same external_id as document {first}.")
        else:
            first = content_keys.setdefault((document.model, document.content_hash), index)
            if first != index:
                raise invalid_item(index, "content", f"Same content and model as document {first}.")


def _register_dimensions(collection: Collection, documents: Sequence[DocumentInput]) -> None:
    """Binds each model to its first dimension in the collection; a vector of another dimension is refused."""
    wanted: dict[str, tuple[int, int]] = {}
    for index, document in enumerate(documents):
        if document.embedding is not None:
            wanted.setdefault(document.model, (len(document.embedding), index))
    if not wanted:
        return
    models = sorted(wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO search_collection_models (collection_id, model, dimension, created_at)
            SELECT %s, m.model, m.dimension, now() FROM unnest(%s::text[], %s::int[]) AS m(model, dimension)
            ORDER BY m.model
            ON CONFLICT (collection_id, model) DO NOTHING
            """,
            [collection.id, models, [wanted[model][0] for model in models]],
        )
        cursor.execute(
            "SELECT model, dimension FROM search_collection_models WHERE collection_id = %s AND model = ANY(%s)",
            [collection.id, models],
        )
        for model, dimension in cursor.fetchall():
            given, index = wanted[model]
            if given != dimension:
                raise invalid_item(
                    index,
                    "embedding",
                    f"Model {model!r} has dimension {dimension} in collection {collection.name!r}; "
                    f"this embedding has {given}.",
                )


def _lock_content_keys(collection: Collection, documents: Sequence[DocumentInput]) -> None:
    """Writers of one content key (documents without external id) take turns: no unique index covers them.

    Keys are hashed into CONTENT_LOCK_BUCKETS advisory locks per model, taken in sorted order: a big batch
    holds a bounded number of locks (the lock table is shared by the whole server).
    """
    buckets = sorted(
        {(d.model, int(d.content_hash[:8], 16) % CONTENT_LOCK_BUCKETS) for d in documents if d.external_id is None}
    )
    if buckets:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS k ORDER BY k",
                [[f"{collection.id}\x1f{model}\x1f{bucket}" for model, bucket in buckets]],
            )


def _existing_documents(
    collection: Collection, documents: Sequence[DocumentInput], *, skip_locked: bool = False
) -> list[UUID | None]:
    """The id of the document each input replaces, or None; those rows are locked (in id order) until commit.

    With `skip_locked`, rows another transaction holds are left out instead of waited for.
    """
    by_external = [d.external_id for d in documents if d.external_id is not None]
    by_content = sorted({(d.model, d.content_hash) for d in documents if d.external_id is None})
    found_external: dict[str, UUID] = {}
    found_content: dict[tuple[str, str], UUID] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, external_id, model, content_hash FROM embeddings
             WHERE tenant_id = %s AND collection = %s
               AND (external_id = ANY(%s)
                    OR (external_id IS NULL AND (model, content_hash) IN
                        (SELECT * FROM unnest(%s::text[], %s::text[]))))
             ORDER BY id
             FOR UPDATE {"SKIP LOCKED" if skip_locked else ""}
            """,
            [
                collection.tenant_id,
                collection.name,
                by_external,
                [model for model, _ in by_content],
                [content_hash for _, content_hash in by_content],
            ],
        )
        for document_id, external_id, model, content_hash in cursor.fetchall():
            if external_id is not None:
                found_external[external_id] = document_id
            else:
                found_content.setdefault((model, content_hash), document_id)  # the oldest id of duplicates
    return [
        found_external.get(d.external_id) if d.external_id is not None else found_content.get((d.model, d.content_hash))
        for d in documents
    ]


# One statement, one snapshot: analyse the batch, write the documents, and add to this writer's stripe what
# was really written (+1 per term of each inserted or updated document, -1 per term of each replaced one).
# A new document whose external id another transaction inserted meanwhile is skipped (ON CONFLICT DO
# NOTHING, after waiting for that transaction) and is not counted; the caller then replaces it.
# idf_scores use the statistics after the batch as attempted (a snapshot by nature: later writes change them).
_INGEST_SQL = """
WITH input AS (
    SELECT * FROM unnest(
        %(ids)s::uuid[], %(replaces)s::uuid[], %(external_ids)s::text[], %(contents)s::text[],
        %(content_hashes)s::text[], %(embeddings)s::text[], %(models)s::text[], %(agent_ids)s::text[],
        %(task_types)s::text[], %(costs)s::numeric[], %(generation_times)s::int[], %(metadata)s::jsonb[]
    ) AS i(id, replaces, external_id, content, content_hash, embedding, model, agent_id, task_type,
           cost_usd, generation_time_ms, metadata)
), analyzed AS (
    SELECT i.*, a.tsv, a.tf, a.len, i.embedding::vector AS vec
      FROM input i CROSS JOIN LATERAL mcp.search_analyze(%(config)s::regconfig, i.content) AS a
), replaced AS (
    SELECT e.id, e.term_frequencies, e.document_length FROM embeddings e
     WHERE e.id IN (SELECT replaces FROM input WHERE replaces IS NOT NULL)
), attempted_delta AS (
    SELECT term, sum(delta)::int AS delta FROM (
        SELECT jsonb_object_keys(tf) AS term, 1 AS delta FROM analyzed
        UNION ALL
        SELECT jsonb_object_keys(term_frequencies), -1 FROM replaced WHERE term_frequencies IS NOT NULL
    ) AS d GROUP BY term
), documents_after AS (
    SELECT (SELECT coalesce(sum(documents), 0) FROM search_collection_counters
             WHERE collection_id = %(collection_id)s)
           + (SELECT count(*) FROM analyzed) - (SELECT count(*) FROM replaced) AS n
), idf AS (
    SELECT jsonb_object_agg(d.term, ln(1 + (GREATEST(n.n - df.df, 0) + 0.5) / (df.df + 0.5))::float8) AS by_term
      FROM attempted_delta d CROSS JOIN documents_after n
      CROSS JOIN LATERAL (
          SELECT (coalesce(sum(s.document_count), 0) + d.delta)::int AS df FROM search_term_stats s
           WHERE s.collection_id = %(collection_id)s AND s.term = d.term
      ) AS df
     WHERE df.df > 0
), prepared AS (
    SELECT a.*,
           CASE WHEN a.vec IS NOT NULL THEN
               (l2_normalize(a.vec)::real[] || array_fill(0::real, ARRAY[%(width)s - vector_dims(a.vec)]))::vector
           END AS normalized,
           (SELECT coalesce(jsonb_object_agg(k, (SELECT by_term FROM idf) -> k), '{}'::jsonb)
              FROM jsonb_object_keys(a.tf) AS k) AS idf_scores
      FROM analyzed a
), inserted AS (
    INSERT INTO embeddings (
        id, tenant_id, collection, external_id, content, content_hash, embedding, normalized_embedding, model,
        dimension, agent_id, task_type, cost_usd, generation_time_ms, content_tsvector, term_frequencies,
        document_length, idf_scores, metadata, created_at, updated_at)
    SELECT p.id, %(tenant_id)s, %(collection)s, p.external_id, p.content, p.content_hash, p.vec, p.normalized,
           p.model, vector_dims(p.vec), p.agent_id, p.task_type, p.cost_usd, p.generation_time_ms, p.tsv, p.tf,
           p.len, p.idf_scores, p.metadata, now(), now()
      FROM prepared p WHERE p.replaces IS NULL
     ORDER BY p.external_id  -- every writer takes external ids in one order: no deadlock between them
    ON CONFLICT (tenant_id, collection, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING id, term_frequencies, document_length
), updated AS (
    UPDATE embeddings e
       SET external_id = p.external_id, content = p.content, content_hash = p.content_hash, embedding = p.vec,
           normalized_embedding = p.normalized, model = p.model, dimension = vector_dims(p.vec),
           agent_id = p.agent_id, task_type = p.task_type, cost_usd = p.cost_usd,
           generation_time_ms = p.generation_time_ms, content_tsvector = p.tsv, term_frequencies = p.tf,
           document_length = p.len, idf_scores = p.idf_scores, metadata = p.metadata, updated_at = now()
      FROM prepared p WHERE e.id = p.replaces
    RETURNING e.id, e.term_frequencies, e.document_length
), written_delta AS (
    SELECT term, sum(delta)::int AS delta FROM (
        SELECT jsonb_object_keys(term_frequencies) AS term, 1 AS delta FROM inserted
        UNION ALL
        SELECT jsonb_object_keys(term_frequencies), 1 FROM updated
        UNION ALL
        SELECT jsonb_object_keys(term_frequencies), -1 FROM replaced WHERE term_frequencies IS NOT NULL
    ) AS d GROUP BY term
), postings_gone AS (
    -- the terms a replaced document no longer has
    DELETE FROM search_postings p
     USING (SELECT r.id, k.term FROM replaced r CROSS JOIN LATERAL jsonb_object_keys(r.term_frequencies) AS k(term)
             WHERE NOT EXISTS (SELECT 1 FROM prepared n WHERE n.replaces = r.id AND n.tf ? k.term)) AS gone
     WHERE p.collection_id = %(collection_id)s AND p.term = gone.term AND p.document_id = gone.id
), postings_new AS (
    -- a new document's id is new: its postings cannot conflict, and a plain insert costs a third less WAL than
    -- the speculative insertion of ON CONFLICT (bench/ingest_breakdown.py)
    INSERT INTO search_postings (collection_id, term, document_id, term_frequency, document_length)
    SELECT %(collection_id)s, t.key, w.id, t.value::int, w.document_length
      FROM inserted w CROSS JOIN LATERAL jsonb_each_text(w.term_frequencies) AS t
), postings_set AS (
    INSERT INTO search_postings AS p (collection_id, term, document_id, term_frequency, document_length)
    SELECT %(collection_id)s, t.key, w.id, t.value::int, w.document_length
      FROM updated w CROSS JOIN LATERAL jsonb_each_text(w.term_frequencies) AS t
    ON CONFLICT (collection_id, term, document_id) DO UPDATE
       SET term_frequency = EXCLUDED.term_frequency, document_length = EXCLUDED.document_length
), term_stats AS (
    INSERT INTO search_term_stats AS s (collection_id, term, stripe, document_count)
    SELECT %(collection_id)s, term, %(stripe)s, delta FROM written_delta WHERE delta <> 0 ORDER BY term
    ON CONFLICT (collection_id, term, stripe) DO UPDATE SET document_count = s.document_count + EXCLUDED.document_count
), counters AS (
    INSERT INTO search_collection_counters AS c (collection_id, stripe, documents, total_length, writes)
    SELECT %(collection_id)s, %(stripe)s,
           (SELECT count(*) FROM inserted) + (SELECT count(*) FROM updated) - (SELECT count(*) FROM replaced),
           (SELECT coalesce(sum(document_length), 0) FROM inserted)
             + (SELECT coalesce(sum(document_length), 0) FROM updated)
             - (SELECT coalesce(sum(document_length), 0) FROM replaced),
           1
    ON CONFLICT (collection_id, stripe) DO UPDATE
       SET documents = c.documents + EXCLUDED.documents, total_length = c.total_length + EXCLUDED.total_length,
           writes = c.writes + 1
)
SELECT id FROM inserted
"""


def _ingest_params(
    collection: Collection, documents: Sequence[DocumentInput], replaces: list[UUID | None], stripe: int
) -> tuple[dict[str, Any], list[UUID]]:
    ids = [existing or uuid4() for existing in replaces]
    params = {
        "ids": ids,
        "replaces": replaces,
        "external_ids": [d.external_id for d in documents],
        "contents": [d.content for d in documents],
        "content_hashes": [d.content_hash for d in documents],
        "embeddings": [vector_text(d.embedding) if d.embedding is not None else None for d in documents],
        "models": [d.model for d in documents],
        "agent_ids": [d.agent_id for d in documents],
        "task_types": [d.task_type for d in documents],
        "costs": [d.cost_usd for d in documents],
        "generation_times": [d.generation_time_ms for d in documents],
        "metadata": [json.dumps(d.metadata or {}) for d in documents],
        "config": collection.text_search_config,
        "collection_id": collection.id,
        "tenant_id": collection.tenant_id,
        "collection": collection.name,
        "stripe": stripe,
        "width": NORMALIZED_DIMENSIONS,
    }
    return params, ids


class _RetryBatch(Exception):
    """The batch met a concurrent write it cannot absorb without taking a lock out of order: run it again."""


def _retrying(operation: Any) -> Any:
    """Runs `operation` in a transaction, again after a deadlock or a concurrent insert of the same key."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return operation()
        except _RetryBatch:
            logger.info("retrying a search write that met a concurrent insert (attempt %s)", attempt)
            if attempt == _ATTEMPTS:
                raise Conflict("conflict", "Concurrent writes of the same documents kept conflicting; retry.") from None
            time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311
        except (IntegrityError, OperationalError) as error:
            cause = getattr(error, "__cause__", None)
            sqlstate = getattr(cause, "sqlstate", None)
            if sqlstate not in ("23505", "40P01", "40001") or attempt == _ATTEMPTS:
                if sqlstate == "23505":
                    raise Conflict("conflict", "A concurrent write conflicted with this batch; retry it.") from error
                raise
            logger.info("retrying a search write after %s (attempt %s)", sqlstate, attempt)
            time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311
    raise AssertionError("unreachable")


def _write_documents(
    collection: Collection, documents: Sequence[DocumentInput], replaces: list[UUID | None], stripe: int
) -> tuple[list[UUID], set[UUID]]:
    """One run of _INGEST_SQL: the ids of the documents (new or replaced) and the set of those inserted."""
    params, ids = _ingest_params(collection, documents, replaces, stripe)
    with connection.cursor() as cursor:
        cursor.execute(_INGEST_SQL, params)
        return ids, {row[0] for row in cursor.fetchall()}


def _attributed(actor: Actor, documents: Sequence[DocumentInput]) -> list[DocumentInput]:
    """A caller acting as an agent writes as that agent: its documents get its id, and naming another agent as
    the author is refused (`policy.DOCUMENT_FIELD_WRITERS`): authorship decides who may later replace or delete."""
    if actor.agent_id is None:
        return list(documents)
    acting_agent = str(actor.agent_id)
    for index, document in enumerate(documents):
        if document.agent_id and document.agent_id != acting_agent:
            refusal = field_refusal(policy.DOCUMENT_FIELD_WRITERS, actor, ["agent_id"], what="a document")
            if refusal is not None:
                raise Forbidden(
                    refusal.code,
                    f"documents[{index}].agent_id: an agent key writes as its own agent only.",
                    {f"documents[{index}].agent_id": [f"must be {acting_agent} or absent"]},
                )
    return [dataclasses.replace(d, agent_id=acting_agent) for d in documents]


def _check_replaceable(
    own_agent: str | None, documents: Sequence[DocumentInput], indexes: Sequence[int], replaces: Sequence[UUID]
) -> None:
    """A caller that may replace only its own agent's documents (`policy.replace_scope`) replaces only those."""
    if own_agent is None or not replaces:
        return
    authors = dict(Embedding.objects.filter(id__in=replaces).values_list("id", "agent_id"))
    for index, document_id in zip(indexes, replaces, strict=True):
        if authors.get(document_id) != own_agent:
            raise Forbidden(
                "workspace_forbidden",
                f"documents[{index}] would replace a document another agent wrote; that needs the moderator role.",
                {f"documents[{index}].external_id": ["written by another agent"]},
            )


def documents_ingest(
    *, actor: Actor, tenant: Tenant, collection: str, documents: Sequence[DocumentInput]
) -> IngestResult:
    """Writes a batch, all or nothing, with the collection's statistics in the same transaction.

    The collection is created (analyzer `english`) when it does not exist yet; an existing one is written
    only as its workspace allows the caller (`policy.require_ingest`, checked on the locked collection).
    A 400 names the first failing document (index and field); nothing is written then.

    Locks, in this order (so that writers cannot deadlock one another or deletes): a stripe; content-key
    buckets; the rows to replace, in id order; new documents' external ids, inserted in sorted order
    (ON CONFLICT DO NOTHING waits for a concurrent insert of the same id and skips it; that document is
    then replaced if its row can be locked without waiting, else the batch starts over, rolled back).
    """
    policy.require_write_access(actor, tenant.id)
    _check_batch(documents)
    documents = _attributed(actor, documents)

    def write() -> IngestResult:
        target = _collection_for_write(tenant, collection)
        policy.require_ingest(actor, target)
        own_agent = policy.replace_scope(actor, target)
        stripe = acquire_stripe(target.id)
        _register_dimensions(target, documents)
        _lock_content_keys(target, documents)
        outcome: dict[int, tuple[UUID, bool]] = {}
        everything = list(range(len(documents)))
        locked = _existing_documents(target, documents)
        fresh = [index for index in everything if locked[index] is None]
        if fresh:
            ids, inserted = _write_documents(target, [documents[i] for i in fresh], [None] * len(fresh), stripe)
            outcome |= {index: (ids[n], True) for n, index in enumerate(fresh) if ids[n] in inserted}
            # Another writer inserted some of them meanwhile (and committed: ON CONFLICT waited for it). Their
            # rows are locked now only if that needs no waiting: a wait here, out of id order, could deadlock.
            skipped = [index for index in fresh if index not in outcome]
            if skipped:
                for index, existing in zip(
                    skipped,
                    _existing_documents(target, [documents[i] for i in skipped], skip_locked=True),
                    strict=True,
                ):
                    locked[index] = existing
        present = [index for index in everything if index not in outcome and locked[index] is not None]
        if present:
            replaces = [locked[index] for index in present]
            _check_replaceable(own_agent, documents, present, replaces)
            _write_documents(target, [documents[index] for index in present], replaces, stripe)
            outcome |= {index: (locked[index], False) for index in present}
        if len(outcome) < len(documents):
            raise _RetryBatch  # rolled back, locks released: the next attempt locks those rows in order
        _fold_after_commit(target.id)
        written = [outcome[i] for i in everything]
        count_on_commit(metrics.DOCUMENTS_INGESTED, sum(1 for _, new in written if new), result="new")
        count_on_commit(metrics.DOCUMENTS_INGESTED, sum(1 for _, new in written if not new), result="replaced")
        return IngestResult(target, written)

    try:
        return _retrying(write)
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != _PROGRAM_LIMIT_EXCEEDED:
            raise
        raise _index_too_large(tenant, collection, documents) from error


#: PostgreSQL's "string is too long for tsvector": a document's distinct words exceed 1 MB.
_PROGRAM_LIMIT_EXCEEDED = "54000"
#: Documents shorter than this cannot reach the tsvector limit (a word's lexemes are at most ~3x its bytes).
_TSVECTOR_SUSPECT_BYTES = 256 * 1024


def _index_too_large(tenant: Tenant, collection: str, documents: Sequence[DocumentInput]) -> DomainError:
    """The 400 of a batch whose full-text index PostgreSQL refused: names the (first) document at fault.

    A tsvector holds at most 1 MB of distinct lexemes (plus positions), whatever the 10 MB body limit allows:
    such a document is refused (split it), never truncated silently. Runs only after the failure, so a
    normal ingest pays nothing; each suspect is analysed alone, in a savepoint.
    """
    config = (
        Collection.objects.filter(tenant=tenant, name=collection).values_list("text_search_config", flat=True).first()
        or "english"
    )
    message = "Its full-text index would exceed PostgreSQL's 1 MB tsvector limit; split it into smaller documents."
    for index, document in enumerate(documents):
        if len(document.content.encode()) < _TSVECTOR_SUSPECT_BYTES:
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT length(to_tsvector(%s::regconfig, %s))", [config, document.content])
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) == _PROGRAM_LIMIT_EXCEEDED:
                return invalid_item(index, "content", message)
            raise
    return DomainError("invalid", f"A document of the batch is too large to index. {message}", {"documents": [message]})


# --- Delete --------------------------------------------------------------------------------------------------------

# The rows are locked by the statement before (in id order): this one's snapshot then sees everything
# committed on them, postings included. (Locking in this statement would re-read a row updated meanwhile,
# but not the postings its updater wrote after this statement's snapshot.)
_DELETE_SQL = """
WITH doomed AS (
    DELETE FROM embeddings WHERE id = ANY(%(locked)s::uuid[])
    RETURNING id, term_frequencies, document_length
), term_delta AS (
    SELECT term, -count(*)::int AS delta FROM doomed, jsonb_object_keys(doomed.term_frequencies) AS term
     GROUP BY term
), postings_gone AS (
    DELETE FROM search_postings p USING doomed d, jsonb_object_keys(d.term_frequencies) AS k(term)
     WHERE p.collection_id = %(collection_id)s AND p.term = k.term AND p.document_id = d.id
), term_stats AS (
    INSERT INTO search_term_stats AS s (collection_id, term, stripe, document_count)
    SELECT %(collection_id)s, term, %(stripe)s, delta FROM term_delta ORDER BY term
    ON CONFLICT (collection_id, term, stripe) DO UPDATE SET document_count = s.document_count + EXCLUDED.document_count
), counters AS (
    INSERT INTO search_collection_counters AS c (collection_id, stripe, documents, total_length, writes)
    SELECT %(collection_id)s, %(stripe)s, -count(*), -coalesce(sum(document_length), 0), 1 FROM doomed
    ON CONFLICT (collection_id, stripe) DO UPDATE
       SET documents = c.documents + EXCLUDED.documents, total_length = c.total_length + EXCLUDED.total_length,
           writes = c.writes + 1
)
SELECT id FROM doomed
"""


def _own_documents_only(own_agent: str | None, filters: DocumentFilters) -> DocumentFilters:
    """A caller that may delete only its agent's documents (`policy.delete_scope`): the filter says so."""
    if own_agent is None:
        return filters
    if filters.agent_id not in (None, own_agent):
        raise Forbidden("workspace_forbidden", "A contributor deletes only its own agent's documents.",
                        {"agent_id": filters.agent_id})  # fmt: skip
    return dataclasses.replace(filters, agent_id=own_agent)


def documents_delete(*, actor: Actor, collection: Collection, filters: DocumentFilters) -> list[UUID]:
    """Deletes the collection's documents matching every member of `filters`; returns their ids.

    A filter that matches everything (none given, or only `metadata={}`) is refused (400): emptying a
    collection is never the accident of a forgotten parameter. A caller that may delete only its own agent's
    documents deletes only those, and is refused (403) a filter naming another agent. The statistics lose
    exactly what the deleted rows held, in the same transaction.
    """
    if filters.is_empty():
        raise DomainError(
            "invalid",
            "Give at least one filter that restricts the documents (an empty metadata object matches all).",
            {"filters": ["at least one filter"]},
        )
    filters = _own_documents_only(policy.delete_scope(actor, collection), filters)
    return _delete_matching(collection, filters)


def document_delete(*, actor: Actor, collection: Collection, document_id: UUID) -> list[UUID]:
    """Deletes one document of the collection: 404 when it is not there, 403 when it is another agent's and the
    caller may delete only its own agent's documents."""
    policy.require_read(actor, collection)
    documents = Embedding.objects.filter(id=document_id, tenant_id=collection.tenant_id, collection=collection.name)
    found = list(documents.values_list("agent_id", flat=True))
    if not found:
        raise NotFound("No such document.")
    own_agent = policy.delete_scope(actor, collection)
    if own_agent is not None and found[0] != own_agent:
        raise Forbidden("workspace_forbidden", "A contributor deletes only its own agent's documents.", {})
    deleted = _delete_matching(collection, DocumentFilters(ids=(document_id,), agent_id=own_agent))
    if not deleted:  # deleted (or given to another agent) meanwhile
        raise NotFound("No such document.")
    return deleted


def _delete_matching(collection: Collection, filters: DocumentFilters) -> list[UUID]:
    """Locks the matching rows (in id order, after a stripe), then deletes them with their statistics."""

    def delete() -> list[UUID]:
        stripe = acquire_stripe(collection.id)
        where, params = documents_where(collection, filters)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT e.id FROM embeddings e WHERE {where} ORDER BY e.id FOR UPDATE", params)
            locked = [row[0] for row in cursor.fetchall()]
            if not locked:
                return []
            cursor.execute(_DELETE_SQL, {"locked": locked, "collection_id": collection.id, "stripe": stripe})
            deleted = [row[0] for row in cursor.fetchall()]
        _fold_after_commit(collection.id)
        return deleted

    return _retrying(delete)


# --- Rebuild -------------------------------------------------------------------------------------------------------

REBUILD_CHUNK = 500

# The derived columns of one chunk of documents (in id order), rewritten where they differ from a fresh analysis.
_REBUILD_DERIVED_SQL = """
WITH chunk AS (
    SELECT e.id, a.tsv, a.tf, a.len, encode(sha256(convert_to(e.content, 'UTF8')), 'hex') AS content_hash,
           vector_dims(e.embedding) AS dimension,
           CASE WHEN e.embedding IS NOT NULL THEN
               (l2_normalize(e.embedding)::real[]
                || array_fill(0::real, ARRAY[%(width)s - vector_dims(e.embedding)]))::vector
           END AS normalized
      FROM embeddings e CROSS JOIN LATERAL mcp.search_analyze(%(config)s::regconfig, e.content) AS a
     WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s AND e.id > %(after)s
     ORDER BY e.id LIMIT %(chunk)s
       FOR UPDATE OF e
), fixed AS (
    UPDATE embeddings e
       SET content_tsvector = c.tsv, term_frequencies = c.tf, document_length = c.len,
           content_hash = c.content_hash, dimension = c.dimension, normalized_embedding = c.normalized
      FROM chunk c
     WHERE e.id = c.id
       AND (e.content_tsvector IS DISTINCT FROM c.tsv OR e.term_frequencies IS DISTINCT FROM c.tf
            OR e.document_length IS DISTINCT FROM c.len OR e.content_hash IS DISTINCT FROM c.content_hash
            OR e.dimension IS DISTINCT FROM c.dimension OR e.normalized_embedding IS DISTINCT FROM c.normalized)
    RETURNING e.id
)
SELECT (SELECT id FROM chunk ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM chunk), (SELECT count(*) FROM fixed)
"""

# idf_scores of one chunk, from the statistics as they are now.
_REBUILD_IDF_SQL = """
WITH chunk AS (
    SELECT e.id, e.term_frequencies FROM embeddings e
     WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s AND e.id > %(after)s
     ORDER BY e.id LIMIT %(chunk)s
       FOR UPDATE OF e
), n AS (
    SELECT coalesce(sum(documents), 0)::int AS n FROM search_collection_counters WHERE collection_id = %(collection_id)s
), fresh AS (
    SELECT c.id, (SELECT coalesce(jsonb_object_agg(
                                       t.term, ln(1 + (GREATEST(n.n - t.df, 0) + 0.5) / (t.df + 0.5))::float8),
                                   '{}'::jsonb)
                    FROM (SELECT k AS term, sum(s.document_count)::int AS df
                            FROM jsonb_object_keys(c.term_frequencies) AS k
                            JOIN search_term_stats s ON s.collection_id = %(collection_id)s AND s.term = k
                           GROUP BY k) AS t
                   WHERE t.df > 0) AS idf_scores
      FROM chunk c, n WHERE c.term_frequencies IS NOT NULL
), fixed AS (
    UPDATE embeddings e SET idf_scores = f.idf_scores FROM fresh f
     WHERE e.id = f.id AND e.idf_scores IS DISTINCT FROM f.idf_scores
    RETURNING e.id
)
SELECT (SELECT id FROM chunk ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM chunk), (SELECT count(*) FROM fixed)
"""


@dataclass
class RebuildReport:
    collection: Collection
    documents: int = 0
    derived_fixed: int = 0
    idf_refreshed: int = 0
    terms_fixed: int = 0
    postings_fixed: int = 0
    counters_fixed: bool = False
    models_fixed: int = 0


def _chunked(sql: str, params: dict[str, Any], progress: Any, using: str) -> tuple[int, int]:
    """Runs a chunk statement until the collection is done, one transaction per chunk; (rows, rows changed)."""
    after, seen, changed = UUID(int=0), 0, 0
    while True:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(sql, {**params, "after": after})
            last, count, fixed = cursor.fetchone()
        if not count:
            return seen, changed
        after, seen, changed = last, seen + count, changed + fixed
        progress(seen)


def collection_stats_rebuild(
    *, collection: Collection, progress: Any = None, using: str = DEFAULT_DB_ALIAS
) -> RebuildReport:
    """Recomputes every derived column of the collection's documents and its statistics from the documents.

    Derived columns are fixed chunk by chunk (only rows that differ are rewritten,
    so untouched rows cost no index maintenance); the statistics are then replaced
    in one transaction that holds every stripe (writers wait for it, briefly);
    idf_scores are refreshed last, against the rebuilt statistics.
    """
    report = RebuildReport(collection)
    progress = progress or (lambda done, phase: None)
    params = {**collection_params(collection), "chunk": REBUILD_CHUNK}
    report.documents, report.derived_fixed = _chunked(
        _REBUILD_DERIVED_SQL, params, lambda done: progress(done, "derived columns"), using
    )
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        lock_all_stripes(collection.id, using=using)
        cursor.execute(STATISTICS_DIFF_SQL, params)
        report.terms_fixed = len(cursor.fetchall())
        cursor.execute(COUNTERS_DIFF_SQL, params)
        documents, total_length, kept_documents, kept_length = cursor.fetchone()
        report.counters_fixed = (documents, total_length) != (kept_documents, kept_length)
        cursor.execute("DELETE FROM search_term_stats WHERE collection_id = %(collection_id)s", params)
        cursor.execute(
            """
            INSERT INTO search_term_stats (collection_id, term, stripe, document_count)
            SELECT %(collection_id)s, k, 0, count(*) FROM embeddings e, jsonb_object_keys(e.term_frequencies) AS k
             WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s GROUP BY k
            """,
            params,
        )
        cursor.execute(POSTINGS_DIFF_SQL, params)
        report.postings_fixed = int(cursor.fetchone()[0])
        cursor.execute("DELETE FROM search_postings WHERE collection_id = %(collection_id)s", params)
        cursor.execute(
            """
            INSERT INTO search_postings (collection_id, term, document_id, term_frequency, document_length)
            SELECT %(collection_id)s, t.key, e.id, t.value::int, e.document_length
              FROM embeddings e CROSS JOIN LATERAL jsonb_each_text(e.term_frequencies) AS t
             WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s
            """,
            params,
        )
        # `writes` keeps growing: a fold must see that something changed
        cursor.execute(
            "DELETE FROM search_collection_counters WHERE collection_id = %(collection_id)s RETURNING writes", params
        )
        writes = sum(row[0] for row in cursor.fetchall()) + 1
        cursor.execute(
            """
            INSERT INTO search_collection_counters (collection_id, stripe, documents, total_length, writes)
            SELECT %(collection_id)s, 0, count(*), coalesce(sum(e.document_length), 0), %(writes)s
              FROM embeddings e WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s
            """,
            {**params, "writes": writes},
        )
        fresh_models = """
            SELECT model, min(dimension) AS dimension FROM embeddings
             WHERE tenant_id = %(tenant_id)s AND collection = %(collection)s AND dimension IS NOT NULL
             GROUP BY model
        """
        cursor.execute(
            f"""
            DELETE FROM search_collection_models m WHERE m.collection_id = %(collection_id)s
               AND (m.model, m.dimension) NOT IN ({fresh_models})
            """,
            params,
        )
        removed = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO search_collection_models (collection_id, model, dimension, created_at)
            SELECT %(collection_id)s, model, dimension, now() FROM ({fresh_models}) AS fresh
            ON CONFLICT (collection_id, model) DO NOTHING
            """,
            params,
        )
        report.models_fixed = removed + cursor.rowcount
    collection_stats_fold(collection_id=collection.id, using=using)
    report.idf_refreshed = _chunked(_REBUILD_IDF_SQL, params, lambda done: progress(done, "idf_scores"), using)[1]
    return report


def collections_adopt_orphans(*, using: str = DEFAULT_DB_ALIAS) -> list[Collection]:
    """Collections for documents written without one (by other services, or before this app managed them)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO search_collections (id, tenant_id, name, text_search_config, folded_writes,
                                            created_at, updated_at)
            SELECT gen_random_uuid(), e.tenant_id, e.collection, 'english', 0, now(), now()
              FROM (SELECT DISTINCT tenant_id, collection FROM embeddings) AS e
             WHERE NOT EXISTS (SELECT 1 FROM search_collections c
                                WHERE c.tenant_id = e.tenant_id AND c.name = e.collection)
            ON CONFLICT (tenant_id, name) DO NOTHING
            RETURNING id
            """
        )
        ids = [row[0] for row in cursor.fetchall()]
    return list(Collection.objects.using(using).filter(id__in=ids))
