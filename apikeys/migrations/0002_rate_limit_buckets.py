import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="RateLimitBucket",
            fields=[
                ("bucket", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("minute_start", models.DateTimeField(blank=True, null=True)),
                ("minute_hits", models.IntegerField(db_default=0, default=0)),
                ("hour_start", models.DateTimeField(blank=True, null=True)),
                ("hour_hits", models.IntegerField(db_default=0, default=0)),
                ("day_start", models.DateTimeField(blank=True, null=True)),
                ("day_hits", models.IntegerField(db_default=0, default=0)),
                ("tat", models.DateTimeField(blank=True, null=True)),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(), default=django.utils.timezone.now
                    ),
                ),
            ],
            options={
                "db_table": "rate_limit_buckets",
                "indexes": [models.Index(fields=["updated_at"], name="idx_rate_limit_buckets_updated")],
            },
        ),
        # Counters are rewritten on every call; a crash that empties them only resets them.
        migrations.RunSQL("ALTER TABLE rate_limit_buckets SET UNLOGGED", "ALTER TABLE rate_limit_buckets SET LOGGED"),
    ]
