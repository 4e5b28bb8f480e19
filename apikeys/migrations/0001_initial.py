import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tasks", "0001_initial"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiKey",
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
                ("key_prefix", models.CharField(max_length=32, unique=True)),
                ("key_hash", models.CharField(max_length=128, unique=True)),
                (
                    "key_type",
                    models.CharField(
                        choices=[
                            ("user", "User"),
                            ("admin", "Admin"),
                            ("agent", "Agent"),
                            ("service", "Service"),
                            ("gateway", "Gateway"),
                        ],
                        db_default="user",
                        default="user",
                        max_length=50,
                    ),
                ),
                (
                    "allowed_services",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.TextField(),
                        blank=True,
                        db_default=[],
                        default=list,
                        null=True,
                        size=None,
                    ),
                ),
                ("is_active", models.BooleanField(db_default=True, default=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("metadata", models.JSONField(blank=True, db_default={}, default=dict)),
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
                    "agent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="api_keys",
                        to="tasks.agent",
                    ),
                ),
                (
                    "parent_key",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="child_keys",
                        to="apikeys.apikey",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_keys",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "API key",
                "db_table": "api_keys",
                "ordering": ["-created_at"],
                "indexes": [models.Index(fields=["tenant", "key_type"], name="idx_api_keys_tenant_type")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "key_type__in",
                                ["user", "admin", "agent", "service", "gateway"],
                            )
                        ),
                        name="api_keys_key_type_check",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("key_type", "agent"), _negated=True),
                            ("agent__isnull", False),
                            _connector="OR",
                        ),
                        name="api_keys_agent_key_names_agent",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("revoked_at__isnull", True),
                            ("is_active", False),
                            _connector="OR",
                        ),
                        name="api_keys_revoked_is_inactive",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("parent_key", models.F("id")), _negated=True),
                        name="api_keys_not_own_parent",
                    ),
                ],
            },
        ),
    ]
