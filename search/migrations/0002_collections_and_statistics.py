import uuid

import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields

# Text analysis shared by every writer: the search service calls it for each document it writes.
ANALYZE_SQL = r"""
CREATE FUNCTION mcp.search_analyze(config regconfig, content text, OUT tsv tsvector, OUT tf jsonb, OUT len integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
-- One document analysed with a collection's text-search configuration: its tsvector, each lexeme's
-- number of occurrences (term frequency) and their total (the document length in BM25's sense:
-- tokens after analysis, stop words excluded). The counts come from the tsvector's positions, which
-- are exact unless PostgreSQL capped them (255 positions per lexeme, positions up to 16383); then
-- the tokens are counted one by one through ts_debug, with the same parser and dictionaries.
DECLARE
    exact boolean;
BEGIN
    tsv := to_tsvector(config, content);
    SELECT jsonb_object_agg(t.lexeme, cardinality(t.positions)), sum(cardinality(t.positions)),
           bool_and(cardinality(t.positions) < 255 AND t.positions[cardinality(t.positions)] < 16383)
      INTO tf, len, exact
      FROM unnest(tsv) AS t;
    IF NOT exact THEN
        SELECT jsonb_object_agg(d.lexeme, d.n), sum(d.n)
          INTO tf, len
          FROM (SELECT l.lexeme, count(*) AS n
                  FROM ts_debug(config, content) AS token, unnest(token.lexemes) AS l(lexeme)
                 GROUP BY l.lexeme) AS d;
    END IF;
    tf := coalesce(tf, '{}'::jsonb);
    len := coalesce(len, 0);
END;
$$;
"""

# The inverted index of BM25: one row per (collection, term, document) with the term's frequency in the
# document and the document's length, kept by the same transaction as the document. Queries read it with
# index-only scans of the unique index (INCLUDE), never the documents' heap. Not a Django model: nothing
# but the search services write it, like an index (no primary key beyond that unique index; no foreign
# keys, whose per-row checks would double the cost of a write).
POSTINGS_SQL = r"""
CREATE TABLE mcp.search_postings (
    collection_id uuid NOT NULL,
    term text NOT NULL,
    document_id uuid NOT NULL,
    term_frequency integer NOT NULL,
    document_length integer NOT NULL
);
CREATE UNIQUE INDEX search_postings_key ON mcp.search_postings (collection_id, term, document_id)
    INCLUDE (term_frequency, document_length);
"""

# embedding_statistics.collection_id is the spec's VARCHAR, without a foreign key, and search_postings has
# none: this trigger removes a collection's rows from both with it (also when a tenant's deletion cascades).
FORGET_STATISTICS_SQL = r"""
CREATE FUNCTION mcp.search_collection_forget_statistics() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mcp.embedding_statistics WHERE collection_id = OLD.id::text;
    DELETE FROM mcp.search_postings WHERE collection_id = OLD.id;
    RETURN OLD;
END;
$$;
CREATE TRIGGER search_collections_forget_statistics AFTER DELETE ON mcp.search_collections
    FOR EACH ROW EXECUTE FUNCTION mcp.search_collection_forget_statistics();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_initial"),
        ("tenants", "0003_tenant_config_origins_index"),
    ]

    operations = [
        migrations.RunSQL(ANALYZE_SQL, "DROP FUNCTION mcp.search_analyze(regconfig, text)"),
        migrations.CreateModel(
            name="Collection",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.CharField(max_length=255)),
                ("text_search_config", models.CharField(db_default="english", default="english", max_length=63)),
                ("folded_writes", models.BigIntegerField(db_default=0, default=0, editable=False)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp())),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="collections",
                        to="tenants.tenant",
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="collections",
                        to="tenants.workspace",
                    ),
                ),
            ],
            options={
                "db_table": "search_collections",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="CollectionCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stripe", models.SmallIntegerField()),
                ("documents", models.BigIntegerField(db_default=0, default=0)),
                ("total_length", models.BigIntegerField(db_default=0, default=0)),
                ("writes", models.BigIntegerField(db_default=0, default=0)),
                (
                    "collection",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="counters",
                        to="search.collection",
                    ),
                ),
            ],
            options={
                "db_table": "search_collection_counters",
            },
        ),
        migrations.CreateModel(
            name="CollectionModel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("model", models.CharField(max_length=255)),
                ("dimension", models.IntegerField()),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "collection",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="models",
                        to="search.collection",
                    ),
                ),
            ],
            options={
                "db_table": "search_collection_models",
            },
        ),
        migrations.CreateModel(
            name="TermStatistic",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("term", models.TextField()),
                ("stripe", models.SmallIntegerField()),
                ("document_count", models.IntegerField()),
                (
                    "collection",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="term_stats",
                        to="search.collection",
                    ),
                ),
            ],
            options={
                "db_table": "search_term_stats",
            },
        ),
        migrations.AddConstraint(
            model_name="collection",
            constraint=models.UniqueConstraint(fields=("tenant", "name"), name="search_collections_tenant_name_key"),
        ),
        migrations.AddConstraint(
            model_name="collectioncounter",
            constraint=models.UniqueConstraint(fields=("collection", "stripe"), name="search_collection_counters_key"),
        ),
        migrations.AddConstraint(
            model_name="collectioncounter",
            constraint=models.CheckConstraint(
                condition=models.Q(("stripe__gte", 0), ("stripe__lt", 16)),
                name="search_collection_counters_stripe_check",
            ),
        ),
        migrations.AddConstraint(
            model_name="collectionmodel",
            constraint=models.UniqueConstraint(fields=("collection", "model"), name="search_collection_models_key"),
        ),
        migrations.AddConstraint(
            model_name="collectionmodel",
            constraint=models.CheckConstraint(
                condition=models.Q(("dimension__gte", 1), ("dimension__lte", 1536)),
                name="search_collection_models_dimension_check",
            ),
        ),
        migrations.AddConstraint(
            model_name="termstatistic",
            constraint=models.UniqueConstraint(fields=("collection", "term", "stripe"), name="search_term_stats_key"),
        ),
        migrations.AddConstraint(
            model_name="termstatistic",
            constraint=models.CheckConstraint(
                condition=models.Q(("stripe__gte", 0), ("stripe__lt", 16)), name="search_term_stats_stripe_check"
            ),
        ),
        migrations.RunSQL(POSTINGS_SQL, "DROP TABLE mcp.search_postings"),
        migrations.RunSQL(
            FORGET_STATISTICS_SQL,
            "DROP TRIGGER search_collections_forget_statistics ON mcp.search_collections; "
            "DROP FUNCTION mcp.search_collection_forget_statistics()",
        ),
    ]
