"""An HNSW index per common dimension on the raw `embedding`; the padded index keeps the other dimensions.

One 1,536-wide index for every model made each insert compare 1,536 components per visited neighbour, zeros
included, and left one element per 8 kB page: inserting into it cost twice what inserting into a 384-wide graph
costs (bench/vector_index_bench.py, 100,000 vectors: 98 against 205 rows/s for one writer), and it was four
times the size (781 against 195 MB). Vectors of 256, 384, 512, 768 and 1,024 dimensions now go to an index of
their width (cosine on the raw vector: the same ranking as inner product on the unit vectors); the padded
`normalized_embedding` is still written for every row (the spec's column) and its index, under the same name,
serves the other dimensions (1,536 among them).

Built CONCURRENTLY (writes go on during the build; non-atomic migration); the padded index is replaced under a
temporary name, then renamed. Reversing restores the single index on every row.
"""

from django.db import migrations

DIMENSIONS = (256, 384, 512, 768, 1024)
WITH = "WITH (m = 16, ef_construction = 64)"
OTHERS = f"vector_dims(embedding) NOT IN ({', '.join(map(str, DIMENSIONS))})"


def native(dimension: int) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_embeddings_hnsw_{dimension} ON embeddings USING hnsw "
        f"((embedding::vector({dimension})) vector_cosine_ops) {WITH} WHERE vector_dims(embedding) = {dimension}",
        f"DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_hnsw_{dimension}",
    )


def padded(where: str) -> list[str]:
    """Statements that replace the padded index by one with `where` (a new build, then a swap of names)."""
    return [
        "DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_normalized_hnsw_new",
        "CREATE INDEX CONCURRENTLY idx_embeddings_normalized_hnsw_new ON embeddings USING hnsw "
        f"(normalized_embedding vector_ip_ops) {WITH}{where}",
        "DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_normalized_hnsw",
        "ALTER INDEX idx_embeddings_normalized_hnsw_new RENAME TO idx_embeddings_normalized_hnsw",
    ]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("search", "0003_embedding_inline_storage")]

    operations = [
        *[native(dimension) for dimension in DIMENSIONS],
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(padded(f" WHERE {OTHERS}"), padded(""))],
            state_operations=[migrations.RemoveIndex(model_name="embedding", name="idx_embeddings_normalized_hnsw")],
        ),
    ]
