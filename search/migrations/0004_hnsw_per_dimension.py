"""An HNSW index per common dimension on the raw `embedding`; the padded index keeps the other dimensions.

One 1,536-wide index for every model made each insert compare 1,536 components per visited neighbour, zeros
included, and left one element per 8 kB page: inserting into it cost twice what inserting into a 384-wide graph
costs (bench/vector_index_bench.py, 100,000 vectors: 98 against 191 rows/s for one writer), and it was four
times the size (781 against 195 MB). Vectors of 256, 384, 512, 768 and 1,024 dimensions now go to an index of
their width (cosine on the raw vector: the same ranking as inner product on the unit vectors); the padded
`normalized_embedding` is still written for every row (the spec's column) and its index, under the same name,
serves the other dimensions (1,536 among them).

Built CONCURRENTLY and resumably (writes go on during the build; non-atomic migration: README, "Migrations
policy"); the padded index is rebuilt under a temporary name, then renamed. Reversing restores the single index
on every row.
"""

from django.db import migrations

from mcpadmin.db.migration_ops import CreateIndexConcurrently

DIMENSIONS = (256, 384, 512, 768, 1024)
WITH = "WITH (m = 16, ef_construction = 64)"
PADDED = f"USING hnsw (normalized_embedding vector_ip_ops) {WITH}"
OTHERS = f"vector_dims(embedding) NOT IN ({', '.join(map(str, DIMENSIONS))})"


def native(dimension: int) -> CreateIndexConcurrently:
    return CreateIndexConcurrently(
        f"idx_embeddings_hnsw_{dimension}",
        "embeddings",
        f"USING hnsw ((embedding::vector({dimension})) vector_cosine_ops) {WITH} "
        f"WHERE vector_dims(embedding) = {dimension}",
    )


# The padded index is built anew under a temporary name, then takes the old one's place. Each step can be run
# again after a failure (an INVALID leftover is dropped and rebuilt; the drop and the rename check first).
SWAP = [
    "DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_normalized_hnsw",
    "ALTER INDEX idx_embeddings_normalized_hnsw_new RENAME TO idx_embeddings_normalized_hnsw",
]
UNSWAP = [
    "DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_normalized_hnsw_old",
    f"CREATE INDEX CONCURRENTLY idx_embeddings_normalized_hnsw_old ON embeddings {PADDED}",
    "DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_normalized_hnsw",
    "ALTER INDEX idx_embeddings_normalized_hnsw_old RENAME TO idx_embeddings_normalized_hnsw",
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("search", "0003_embedding_inline_storage")]

    operations = [
        *[native(dimension) for dimension in DIMENSIONS],
        migrations.SeparateDatabaseAndState(
            database_operations=[
                CreateIndexConcurrently("idx_embeddings_normalized_hnsw_new", "embeddings", f"{PADDED} WHERE {OTHERS}"),
                migrations.RunSQL(SWAP, UNSWAP),
            ],
            state_operations=[migrations.RemoveIndex(model_name="embedding", name="idx_embeddings_normalized_hnsw")],
        ),
    ]
