import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields
from mcpadmin.db.migration_ops import create_platform_schema


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        create_platform_schema(),
        migrations.CreateModel(
            name="Tenant",
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
                ("name", models.CharField(max_length=255, unique=True)),
                ("is_active", models.BooleanField(db_default=True, default=True)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(auto_now=True, db_default=mcpadmin.db.fields.CurrentTimestamp()),
                ),
            ],
            options={
                "db_table": "tenants",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="TenantConfig",
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
                (
                    "rate_limit_config",
                    models.JSONField(blank=True, db_default={}, default=dict),
                ),
                (
                    "service_tokens",
                    models.JSONField(blank=True, db_default={}, default=dict, null=True),
                ),
                (
                    "allowed_origins",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.TextField(),
                        blank=True,
                        db_default=[],
                        default=list,
                        null=True,
                        size=None,
                    ),
                ),
                (
                    "features",
                    models.JSONField(blank=True, db_default={}, default=dict, null=True),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                        editable=False,
                        null=True,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(
                        auto_now=True,
                        db_default=mcpadmin.db.fields.CurrentTimestamp(),
                        null=True,
                    ),
                ),
                (
                    "tenant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="config",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "tenant configuration",
                "db_table": "tenant_config",
            },
        ),
    ]
