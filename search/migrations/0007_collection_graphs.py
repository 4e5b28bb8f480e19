"""The shared HNSW indexes of the common dimensions give way to collection graphs (search/graphs.py).

A collection of at most 2,000 documents is compared exactly; a larger one gets a graph of its own, built by the
worker (`sync_collection_graphs`) or `manage.py sync_collection_graphs`. Until then its searches compare exactly:
run the command right after this migration on a database with large collections (the worker does it within its
slot). Dropped CONCURRENTLY (non-atomic migration): searches and ingests go on meanwhile.

Reversing rebuilds the shared indexes CONCURRENTLY (their SQL as search 0004 wrote it) and drops the graphs, which
the code of search 0006 does not know.
"""

from django.db import migrations

DIMENSIONS = (256, 384, 512, 768, 1024)
WITH = "WITH (m = 16, ef_construction = 64)"


def shared(dimension: int) -> str:
    return (
        f"CREATE INDEX CONCURRENTLY idx_embeddings_hnsw_{dimension} ON embeddings USING hnsw "
        f"((embedding::vector({dimension})) vector_cosine_ops) {WITH} WHERE vector_dims(embedding) = {dimension}"
    )


DROP_GRAPHS = """
DO $$
DECLARE graph text;
BEGIN
    FOR graph IN SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                  WHERE i.indrelid = 'embeddings'::regclass AND ic.relname LIKE 'idx\\_embeddings\\_graph\\_%'
    LOOP
        EXECUTE format('DROP INDEX %I', graph);
    END LOOP;
END $$
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("search", "0006_score_fusion")]

    operations = [
        migrations.RunSQL(
            sql=[f"DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_hnsw_{d}" for d in DIMENSIONS],
            # An INVALID leftover of an interrupted rebuild is dropped first: each step can run again.
            reverse_sql=[
                step
                for d in DIMENSIONS
                for step in (f"DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_hnsw_{d}", shared(d))
            ]
            + [DROP_GRAPHS],
        ),
    ]
