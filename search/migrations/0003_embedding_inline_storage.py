"""Keep the model's own vector (`embedding`) inline in the row.

A row holds its 6 KB padded `normalized_embedding` (moved out of line, to TOAST) and, next to content,
tsvector and JSON columns, the model's 1.5 KB `embedding`; PostgreSQL moves the widest EXTENDED columns out
of a row over ~2 KB, so `embedding` went out of line too. Exact vector scans (filtered searches) read it for
every candidate row: from TOAST that cost ~8 buffer reads a row (10.9 ms for 1,000 rows, 3.5 ms inline,
measured on the 100k benchmark). MAIN keeps it in the row (compressed if need be) and moves it out only as a
last resort. Applies to rows written from now on; `VACUUM FULL embeddings` rewrites existing ones.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("search", "0002_collections_and_statistics")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE embeddings ALTER COLUMN embedding SET STORAGE MAIN",
            "ALTER TABLE embeddings ALTER COLUMN embedding SET STORAGE EXTENDED",
        )
    ]
