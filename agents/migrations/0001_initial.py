"""State only: the models move from `tasks` to `agents` with their tables (same names, same rows).

Content types are relabelled, so admin history and permissions follow the models."""

import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.functions
import django.contrib.postgres.indexes
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields
from mcpadmin.db.migration_ops import relabel_content_types


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tasks", "0005_workflow_execution_idempotency"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tenants", "0004_workspace_owner_guard"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[relabel_content_types("tasks", "agents", ["agent"])],
            state_operations=[
                migrations.CreateModel(
                    name="Agent",
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
                        ("description", models.TextField(blank=True, db_default="", default="")),
                        (
                            "capabilities",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=100),
                                blank=True,
                                db_default=[],
                                default=list,
                                size=None,
                            ),
                        ),
                        (
                            "teams",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=100),
                                blank=True,
                                db_default=[],
                                default=list,
                                size=None,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("active", "Active"), ("disabled", "Disabled")],
                                db_default="active",
                                default="active",
                                max_length=20,
                            ),
                        ),
                        ("metadata", models.JSONField(blank=True, db_default={}, default=dict)),
                        ("last_seen_at", models.DateTimeField(blank=True, null=True)),
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
                        (
                            "tenant",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="agents",
                                to="tenants.tenant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "agents",
                        "ordering": ["name"],
                        "indexes": [
                            models.Index(
                                fields=["tenant", "status", "last_seen_at"], name="idx_agents_tenant_status_seen"
                            ),
                            django.contrib.postgres.indexes.GinIndex(
                                fields=["capabilities"], name="idx_agents_capabilities"
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(fields=("tenant", "name"), name="agents_tenant_name_key"),
                            models.CheckConstraint(
                                condition=models.Q(("status__in", ["active", "disabled"])), name="agents_status_check"
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
