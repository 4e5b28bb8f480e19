import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields
from mcpadmin.db.migration_ops import create_enum_type


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0001_initial"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        create_enum_type("workspace_visibility", ["private", "team", "organization", "public"]),
        create_enum_type("member_role", ["viewer", "contributor", "moderator", "admin", "owner"]),
        migrations.CreateModel(
            name="Workspace",
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
                (
                    "description",
                    models.TextField(blank=True, db_default="", default=""),
                ),
                (
                    "visibility",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("private", "Private"),
                            ("team", "Team"),
                            ("organization", "Organization"),
                            ("public", "Public"),
                        ],
                        db_default="private",
                        default="private",
                        enum_type="workspace_visibility",
                    ),
                ),
                (
                    "team_tags",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=100),
                        blank=True,
                        db_default=[],
                        default=list,
                        size=None,
                    ),
                ),
                ("settings", models.JSONField(blank=True, db_default={}, default=dict)),
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
                        related_name="workspaces",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "workspaces",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="WorkspaceMember",
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
                    "role",
                    mcpadmin.db.fields.EnumField(
                        choices=[
                            ("viewer", "Viewer"),
                            ("contributor", "Contributor"),
                            ("moderator", "Moderator"),
                            ("admin", "Admin"),
                            ("owner", "Owner"),
                        ],
                        db_default="viewer",
                        default="viewer",
                        enum_type="member_role",
                    ),
                ),
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
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="workspace_memberships",
                        to="tasks.agent",
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="members",
                        to="tenants.workspace",
                    ),
                ),
            ],
            options={
                "db_table": "workspace_members",
            },
        ),
        migrations.AddConstraint(
            model_name="workspace",
            constraint=models.UniqueConstraint(fields=("tenant", "name"), name="workspaces_tenant_name_key"),
        ),
        migrations.AddConstraint(
            model_name="workspacemember",
            constraint=models.UniqueConstraint(
                fields=("workspace", "agent"),
                name="workspace_members_workspace_agent_key",
            ),
        ),
    ]
