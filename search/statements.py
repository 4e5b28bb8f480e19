"""SQL that both the writers (search/services.py) and the readers (search/selectors.py) run.

The difference statements compare a collection's documents with what was derived from them; the rebuild
(a service) counts what it fixes with them and the verification (a selector) reports them. Their named
parameters are those of `collection_params`.
"""

from __future__ import annotations

from typing import Any

from search.filters import DocumentFilters
from search.models import NORMALIZED_DIMENSIONS, Collection


def collection_params(collection: Collection) -> dict[str, Any]:
    """The named parameters that identify a collection in these statements."""
    return {
        "tenant_id": collection.tenant_id,
        "collection": collection.name,
        "collection_id": collection.id,
        "statistics_id": collection.statistics_id,
        "config": collection.text_search_config,
        "width": NORMALIZED_DIMENSIONS,
    }


def documents_where(collection: Collection, filters: DocumentFilters) -> tuple[str, dict[str, Any]]:
    """The condition (over alias `e` of `embeddings`) of the collection's documents passing `filters`.

    Always scoped to the collection's tenant and name; an empty `filters` adds no condition (every document).
    """
    condition, params = filters.sql()
    params = {**params, "tenant_id": collection.tenant_id, "collection": collection.name}
    return f"e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s AND {condition}", params


# Statistics recomputed from the documents, side by side with the side tables' sums: the differences.
STATISTICS_DIFF_SQL = """
WITH fresh AS (
    SELECT k AS term, count(*)::bigint AS df FROM embeddings e, jsonb_object_keys(e.term_frequencies) AS k
     WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s GROUP BY k
), kept AS (
    SELECT term, sum(document_count)::bigint AS df FROM search_term_stats
     WHERE collection_id = %(collection_id)s GROUP BY term HAVING sum(document_count) <> 0
)
SELECT coalesce(fresh.term, kept.term), fresh.df, kept.df
  FROM fresh FULL JOIN kept ON kept.term = fresh.term
 WHERE fresh.df IS DISTINCT FROM kept.df
 ORDER BY 1
"""

# Postings that differ from the documents' term frequencies and lengths (missing, extra or wrong).
POSTINGS_DIFF_SQL = """
WITH fresh AS (
    SELECT t.key AS term, e.id AS document_id, t.value::int AS term_frequency, e.document_length
      FROM embeddings e CROSS JOIN LATERAL jsonb_each_text(e.term_frequencies) AS t
     WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s
), kept AS (
    SELECT term, document_id, term_frequency, document_length FROM search_postings
     WHERE collection_id = %(collection_id)s
)
SELECT count(*) FROM fresh FULL JOIN kept USING (term, document_id)
 WHERE fresh.term_frequency IS DISTINCT FROM kept.term_frequency
    OR fresh.document_length IS DISTINCT FROM kept.document_length
"""

COUNTERS_DIFF_SQL = """
SELECT (SELECT count(*) FROM embeddings e WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s),
       (SELECT coalesce(sum(document_length), 0) FROM embeddings e
         WHERE e.tenant_id = %(tenant_id)s AND e.collection = %(collection)s),
       (SELECT coalesce(sum(documents), 0) FROM search_collection_counters WHERE collection_id = %(collection_id)s),
       (SELECT coalesce(sum(total_length), 0) FROM search_collection_counters WHERE collection_id = %(collection_id)s)
"""
