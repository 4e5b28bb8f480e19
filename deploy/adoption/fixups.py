"""The platform's legacy-data fix-ups: what the generic planner cannot derive from the catalogs.

Each FixUp says what the Go platform's data meant (deploy.legacy holds the
values): the task enums' value maps, the legacy API keys (type -> key_type,
key_prefix, expiry of temporary keys), the NOT NULL fillers, a tenants row
for every tenant id the legacy rows hold, and the search data derived from
the legacy embeddings. The only module of deploy.adoption that knows the
platform's tables, KeyType or the search app.
"""

from __future__ import annotations

import functools
import uuid

from mcpadmin.core.access import KeyType
from search.models import NORMALIZED_DIMENSIONS
from search.services import collection_stats_rebuild, collections_adopt_orphans

from .. import ddl, legacy
from ..catalog import Catalog
from .plan import Plan, Step
from .planner import FixUp, Planner, ValueMap

#: Filled by plan_api_keys (key_prefix_statements), for every legacy key.
KEY_PREFIX_COLUMN = "key_prefix"
#: Filled by plan_legacy_documents where a legacy document has none.
COLLECTION_COLUMN = "collection"


def legacy_db_plan(
    *,
    alias: str,
    expected: Catalog,
    status_map: dict[str, str],
    priority_map: dict[str, str],
    temporary_key_hours: int = legacy.TEMPORARY_KEY_HOURS,
    legacy_collection: str = legacy.DEFAULT_LEGACY_COLLECTION,
) -> Plan:
    """The plan that adopts the database of `alias`; reads it, changes nothing."""
    fixups = platform_fixups(
        status_map=status_map,
        priority_map=priority_map,
        temporary_key_hours=temporary_key_hours,
        legacy_collection=legacy_collection,
    )
    return Planner(alias, expected, fixups).plan()


def platform_fixups(
    *,
    status_map: dict[str, str],
    priority_map: dict[str, str],
    temporary_key_hours: int,
    legacy_collection: str = legacy.DEFAULT_LEGACY_COLLECTION,
) -> list[FixUp]:
    """The fix-ups of the Go platform's data; the maps are the operator's, on top of deploy.legacy's defaults."""
    value_maps = {
        legacy.STATUS_TYPE: ValueMap(
            {**legacy.DEFAULT_STATUS_MAP, **status_map}, legacy.ENUM_OPTIONS[legacy.STATUS_TYPE]
        ),
        legacy.PRIORITY_TYPE: ValueMap(
            {**legacy.DEFAULT_PRIORITY_MAP, **priority_map}, legacy.ENUM_OPTIONS[legacy.PRIORITY_TYPE]
        ),
    }
    return [
        FixUp(value_maps=value_maps, not_null_fillers=legacy.NOT_NULL_FILLERS),
        FixUp(
            renamed_columns=((legacy.API_KEYS_TABLE, legacy.LEGACY_TYPE_COLUMN, legacy.KEY_TYPE_COLUMN),),
            filled_columns=frozenset({(legacy.API_KEYS_TABLE, KEY_PREFIX_COLUMN)}),
            data=functools.partial(plan_api_keys, temporary_key_hours=temporary_key_hours),
        ),
        FixUp(renamed_columns=(legacy.WORKFLOW_TYPE_RENAME,)),
        FixUp(
            filled_columns=frozenset({(legacy.EMBEDDINGS_TABLE, COLLECTION_COLUMN)}),
            data=functools.partial(plan_legacy_documents, collection=legacy_collection),
        ),
        FixUp(creates_referenced_rows=frozenset({legacy.TENANTS_TABLE}), referenced_rows=plan_tenants),
        FixUp(derived=plan_search),
    ]


def plan_api_keys(planner: Planner, *, temporary_key_hours: int) -> None:
    """Legacy keys become keys of the platform: key_type, key_prefix, an expiry for temporary keys."""
    if legacy.API_KEYS_TABLE not in planner.platform_tables:
        return
    table = planner.table(legacy.API_KEYS_TABLE)
    type_column = planner.live_column_name(legacy.API_KEYS_TABLE, legacy.KEY_TYPE_COLUMN)
    types = dict(planner.rows(f"SELECT {type_column}, count(*) FROM {table} GROUP BY 1 ORDER BY 1 NULLS LAST"))
    statements, details = [], []
    if type_column != legacy.KEY_TYPE_COLUMN:
        statements.append(
            f"UPDATE {table} SET metadata = COALESCE(metadata, '{{}}'::jsonb) || "
            "jsonb_build_object('legacy_type', key_type) WHERE key_type IS NOT NULL"
        )
        details.append("metadata.legacy_type = the legacy type, on every key that has one")
    if types.get("temporary"):
        statements += _temporary_key_statements(planner, type_column, types["temporary"], temporary_key_hours, details)
    statements += key_prefix_statements(planner, details)
    statements += _key_type_statements(planner, type_column, types, details)
    _note_key_hashes(planner, sum(types.values()))
    planner.add("Legacy API keys", statements, details)


def _temporary_key_statements(
    planner: Planner, type_column: str, temporary: int, hours: int, details: list[str]
) -> list[str]:
    without_expiry = temporary
    if ("column", f"{legacy.API_KEYS_TABLE}.expires_at") in planner.current:
        without_expiry = planner.count(legacy.API_KEYS_TABLE, f"{type_column} = 'temporary' AND expires_at IS NULL")
    details.append(
        f"temporary keys: {temporary}; {without_expiry} without expires_at expire "
        f"{hours} h after adoption, the others keep theirs"
    )
    return [
        f"UPDATE {planner.table(legacy.API_KEYS_TABLE)} SET expires_at = CURRENT_TIMESTAMP + interval '{hours} hours' "
        "WHERE key_type = 'temporary' AND expires_at IS NULL"
    ]


def key_prefix_statements(planner: Planner, details: list[str]) -> list[str]:
    """Every legacy key gets a key_prefix derived from its id (deploy.legacy.legacy_key_prefix)."""
    table = planner.table(legacy.API_KEYS_TABLE)
    values = []
    for (key_id,) in planner.rows(f"SELECT id::text FROM {table} ORDER BY id"):
        try:
            prefix = legacy.legacy_key_prefix(uuid.UUID(key_id))
        except ValueError:
            planner.blockers.append(f"api_keys.id {key_id!r} is not a UUID")
            continue
        values.append(f"({ddl.quote_literal(key_id)}::uuid, {ddl.quote_literal(prefix)})")
    if not values:
        return []
    details.append(
        f"key_prefix of {len(values)} key(s) = 'legacy-' + the id in base 36 (a legacy key_prefix moves to "
        "metadata.legacy_key_prefix)"
    )
    return [
        f"UPDATE {table} AS k SET key_prefix = v.prefix, metadata = CASE WHEN k.key_prefix IS NULL "
        "THEN k.metadata ELSE COALESCE(k.metadata, '{}'::jsonb) || jsonb_build_object('legacy_key_prefix', "
        "k.key_prefix) END\n  FROM (VALUES " + ",\n          ".join(values) + ") AS v(id, prefix)\n WHERE k.id = v.id"
    ]


def _key_type_statements(
    planner: Planner, type_column: str, types: dict[str | None, int], details: list[str]
) -> list[str]:
    """Map each legacy type to a KeyType (deploy.legacy.LEGACY_KEY_TYPES); block on the ones that map to none."""
    mapped = {}
    for value, rows in types.items():
        new = legacy.LEGACY_KEY_TYPES.get(value, value)
        if value is None:
            details.append(f"type NULL: {rows} key(s) (key_type gets its default)")
        elif new not in KeyType.values:
            planner.blockers.append(
                f"api_keys.{type_column}: {rows} key(s) have type {value!r}, which maps to no key_type"
            )
        else:
            details.append(f"type {value!r} -> key_type {new!r}: {rows} key(s)")
            if new != value:
                mapped[value] = new
    if not mapped:
        return []
    cases = " ".join(f"WHEN {ddl.quote_literal(old)} THEN {ddl.quote_literal(new)}" for old, new in mapped.items())
    olds = ", ".join(ddl.quote_literal(old) for old in mapped)
    table = planner.table(legacy.API_KEYS_TABLE)
    return [f"UPDATE {table} SET key_type = CASE key_type {cases} END WHERE key_type IN ({olds})"]


def _note_key_hashes(planner: Planner, total: int) -> None:
    """Only the operator knows how the Go platform hashed its keys: say how many look like SHA-256."""
    hashed = planner.count(legacy.API_KEYS_TABLE, "key_hash ~ '^[0-9a-f]{64}$'")
    planner.notes.append(
        f"API keys: {hashed} of {total} legacy key(s) store a lowercase hex SHA-256 key_hash; they keep "
        "authenticating (MCPADMIN_ACCEPT_LEGACY_KEYS=true) if the Go platform hashed the whole raw key that "
        f"way. The other {total - hashed} must be re-issued."
    )


def plan_legacy_documents(planner: Planner, *, collection: str) -> None:
    """The Go platform's documents, made the platform's: a collection, a model, vectors of their real dimension.

    Its `embeddings` has no collection: the documents without one go to
    `collection` of their tenant. Its `model_name` fills `model` (the search
    of vectors names a model) and `context_id` goes to metadata.context_id
    (a search filter); both columns are kept. Vectors: see `_vector_statements`.
    """
    if legacy.EMBEDDINGS_TABLE not in planner.platform_tables:
        return
    table = planner.table(legacy.EMBEDDINGS_TABLE)
    statements, details = [], []
    has_collection = _has_column(planner, COLLECTION_COLUMN)
    without = f"{planner.q(COLLECTION_COLUMN)} IS NULL" if has_collection else "true"
    per_tenant = planner.rows(f"SELECT tenant_id::text, count(*) FROM {table} WHERE {without} GROUP BY 1 ORDER BY 1")
    if per_tenant:
        statements.append(
            f"UPDATE {table} SET {planner.q(COLLECTION_COLUMN)} = {ddl.quote_literal(collection)} "
            f"WHERE {planner.q(COLLECTION_COLUMN)} IS NULL"
        )
        details += [
            f"tenant {tenant}: {rows} document(s) without a collection -> collection {collection!r}"
            for tenant, rows in per_tenant
        ]
    if _has_column(planner, legacy.LEGACY_MODEL_COLUMN):
        model_name = planner.q(legacy.LEGACY_MODEL_COLUMN)
        unnamed = f"{model_name} IS NOT NULL" + (
            " AND (model IS NULL OR model = '')" if _has_column(planner, "model") else ""
        )
        named = planner.count(legacy.EMBEDDINGS_TABLE, unnamed)
        if named:
            statements.append(
                f"UPDATE {table} SET model = left({model_name}, 255) WHERE {model_name} IS NOT NULL "
                "AND (model IS NULL OR model = '')"
            )
            details.append(f"model = {legacy.LEGACY_MODEL_COLUMN} (kept): {named} document(s)")
    if _has_column(planner, legacy.LEGACY_CONTEXT_COLUMN):
        context = planner.q(legacy.LEGACY_CONTEXT_COLUMN)
        in_context = planner.count(legacy.EMBEDDINGS_TABLE, f"{context} IS NOT NULL")
        if in_context:
            statements.append(
                f"UPDATE {table} SET metadata = COALESCE(metadata, '{{}}'::jsonb) || "
                f"jsonb_build_object('context_id', {context}::text) WHERE {context} IS NOT NULL"
            )
            details.append(
                f"metadata.context_id = {legacy.LEGACY_CONTEXT_COLUMN} (kept): {in_context} document(s), "
                "a search filter"
            )
    statements += _vector_statements(planner, table, details)
    planner.add("Legacy documents: collection, model, context, vectors", statements, details)


def _has_column(planner: Planner, column: str) -> bool:
    return ("column", f"{legacy.EMBEDDINGS_TABLE}.{column}") in planner.current


def _vector_statements(planner: Planner, table: str, details: list[str]) -> list[str]:
    """Vectors of the dimension the platform searches, where it is known; the others are not searched by vector.

    The Go platform pads every vector with zeros to 4096 and records the real
    dimension (`configured_dimensions`, else `model_dimensions`): such a vector
    is cut back to it when the padding is zeros. A vector is kept as it is
    when it is no wider than the platform's widest and no recorded dimension
    contradicts it. Any other vector (wider than the platform's widest, or of
    an unknown dimension) is removed: its document stays, searchable by BM25.
    """
    if not _has_column(planner, "embedding") or not planner.count(legacy.EMBEDDINGS_TABLE, "embedding IS NOT NULL"):
        return []
    recorded = [planner.q(c) for c in legacy.LEGACY_DIMENSION_COLUMNS if _has_column(planner, c)]
    known = f"COALESCE({', '.join(recorded)})" if recorded else "NULL::integer"
    width, widest = "vector_dims(embedding)", NORMALIZED_DIMENSIONS
    padded = (
        f"embedding IS NOT NULL AND {known} BETWEEN 1 AND LEAST({widest}, {width} - 1) "
        f"AND vector_norm(subvector(embedding, {known} + 1, {width} - {known})) = 0"
    )
    fits = f"{width} <= {widest} AND ({known} IS NULL OR {known} = {width})"
    cut = planner.count(legacy.EMBEDDINGS_TABLE, padded)
    kept = planner.count(legacy.EMBEDDINGS_TABLE, f"embedding IS NOT NULL AND {fits}")
    dropped = planner.count(legacy.EMBEDDINGS_TABLE, f"embedding IS NOT NULL AND NOT ({fits}) AND NOT ({padded})")
    details.append(
        f"vectors: {kept} kept as they are, {cut} cut back to their recorded dimension (zero padding removed), "
        f"{dropped} removed (wider than {widest} or of an unknown dimension: those documents are searched by BM25 only)"
    )
    if dropped:
        planner.notes.append(
            f"embeddings: {dropped} legacy vector(s) cannot be searched by the platform (wider than {widest} "
            "dimensions, or padding that contradicts the recorded dimension) and are removed; their documents are "
            "kept and searchable by BM25. Ingest them again with a model of at most "
            f"{widest} dimensions to search them by vector."
        )
    statements = []
    if cut:
        statements.append(f"UPDATE {table} SET embedding = subvector(embedding, 1, {known}) WHERE {padded}")
    if dropped:
        statements.append(f"UPDATE {table} SET embedding = NULL WHERE embedding IS NOT NULL AND NOT ({fits})")
    return statements


def plan_tenants(planner: Planner) -> None:
    """A tenants row (and its default tenant_config) for every tenant id the legacy rows hold."""
    if ("table", legacy.TENANTS_TABLE) not in planner.target:
        return
    sources = sorted(
        (c.table, c.info["columns"][0])
        for c in planner.target.values()
        if c.kind == "constraint"
        and c.info.get("ref_table") == legacy.TENANTS_TABLE
        and c.table in planner.platform_tables
        and len(c.info["columns"]) == 1
        and ("column", f"{c.table}.{c.info['columns'][0]}") in planner.current
    )
    if not sources:
        return
    found = " UNION ".join(f"SELECT {planner.q(column)} AS id FROM {planner.table(table)}" for table, column in sources)
    tenants = planner.table(legacy.TENANTS_TABLE)
    exists = legacy.TENANTS_TABLE in planner.platform_tables
    count = planner.rows(
        f"SELECT count(DISTINCT id) FROM ({found}) AS found WHERE id IS NOT NULL"
        + (f" AND id::text NOT IN (SELECT id::text FROM {tenants})" if exists else "")
    )[0][0]
    if not count:
        return
    name = legacy.LEGACY_TENANT_NAME_SQL.format(id="found.id")
    statements = [
        f"INSERT INTO {tenants} (id, name) SELECT DISTINCT found.id, {name} FROM ({found}) AS found "
        f"WHERE found.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {tenants} AS t WHERE t.id = found.id)"
    ]
    details = [
        f"{count} tenant id(s) found in {', '.join(f'{t}.{c}' for t, c in sources)}: a tenant named legacy-<id> each"
    ]
    if ("column", f"{legacy.TENANT_CONFIG_TABLE}.tenant_id") in planner.target:
        config = planner.table(legacy.TENANT_CONFIG_TABLE)
        statements.append(
            f"INSERT INTO {config} (tenant_id) SELECT t.id FROM {tenants} AS t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {config} AS c WHERE c.tenant_id = t.id)"
        )
        details.append("each tenant without a tenant_config row gets one with the defaults")
    planner.add("Tenants for the tenant ids of the legacy rows", statements, details)


def plan_search(planner: Planner) -> None:
    """Search data of the legacy embeddings, derived by the search app's own rebuild (as for new documents).

    A `derived` hook: the rebuild's upserts need the unique keys, created with the constraints and indexes.
    """
    if "embeddings" not in planner.platform_tables or ("table", "search_collections") not in planner.target:
        return
    rows = planner.count("embeddings")
    if not rows:
        return
    planner.steps.append(
        Step(
            "Search data of the legacy embeddings",
            details=[
                f"{rows} embedding(s): a search collection for each (tenant, collection) they name (analyzer english)",
                "every derived column (content_tsvector, term_frequencies, document_length, content_hash, dimension, "
                "normalized_embedding, idf_scores), the term statistics, postings and embedding_statistics, "
                "recomputed by search.services.collection_stats_rebuild, the code of manage.py rebuild_search_stats",
            ],
            action=_search_rebuild,
        )
    )


def _search_rebuild(alias: str) -> None:
    for collection in collections_adopt_orphans(using=alias):
        collection_stats_rebuild(collection=collection, using=alias)
