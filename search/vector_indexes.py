"""The HNSW indexes of `embeddings`: one per common dimension on the raw vector, one on the padded vector for the rest.

The searches and the benchmarks take their SQL from here (the migration that creates them, search 0004, has its
own frozen copy; a test checks that the database's indexes are these). A partial index is used only by a query
whose WHERE clause repeats its predicate and whose ORDER BY repeats its expression.
"""

from __future__ import annotations

from search.models import NATIVE_INDEX_DIMENSIONS

#: pgvector's defaults; the benchmarks' recall figures are for these.
HNSW_WITH = "WITH (m = 16, ef_construction = 64)"
PADDED_INDEX = "idx_embeddings_normalized_hnsw"


def native_index(dimension: int) -> str:
    return f"idx_embeddings_hnsw_{dimension}"


def native_predicate(dimension: int, alias: str = "") -> str:
    return f"vector_dims({alias}embedding) = {int(dimension)}"


def native_expression(dimension: int, alias: str = "") -> str:
    return f"{alias}embedding::vector({int(dimension)})"


def native_distance(dimension: int, alias: str = "", query: str = "%(raw_vector)s") -> str:
    """Cosine distance of the raw vector at its own width: what the dimension's index orders by."""
    return f"{native_expression(dimension, alias)} <=> {query}::vector({int(dimension)})"


def padded_predicate(alias: str = "") -> str:
    return f"vector_dims({alias}embedding) NOT IN ({', '.join(map(str, NATIVE_INDEX_DIMENSIONS))})"


def all_create_sql() -> list[str]:
    """Every HNSW index of `embeddings`, as the latest migration leaves them (bulk loads rebuild them with these)."""
    create = "CREATE INDEX IF NOT EXISTS"
    padded = (
        f"{create} {PADDED_INDEX} ON embeddings USING hnsw (normalized_embedding vector_ip_ops) {HNSW_WITH} "
        f"WHERE {padded_predicate()}"
    )
    return [padded] + [
        f"{create} {native_index(d)} ON embeddings USING hnsw (({native_expression(d)}) vector_cosine_ops) "
        f"{HNSW_WITH} WHERE {native_predicate(d)}"
        for d in NATIVE_INDEX_DIMENSIONS
    ]


def all_index_names() -> list[str]:
    return [PADDED_INDEX] + [native_index(d) for d in NATIVE_INDEX_DIMENSIONS]
