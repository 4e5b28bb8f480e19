"""State only: the models move from `tenants` to `workspaces` with their tables (same names, same rows).

Content types are relabelled, so admin history and permissions follow the models."""

import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import mcpadmin.db.fields
from mcpadmin.db.migration_ops import relabel_content_types


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0004_workspace_owner_guard"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("agents", "0001_initial"),
        ("tenants", "0005_remove_workspace_tenant_and_more"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[relabel_content_types("tenants", "workspaces", ["workspace", "workspacemember"])],
            state_operations=[
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
                        ("description", models.TextField(blank=True, db_default="", default="")),
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
                                to="agents.agent",
                            ),
                        ),
                        (
                            "workspace",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="members",
                                to="workspaces.workspace",
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
                        fields=("workspace", "agent"), name="workspace_members_workspace_agent_key"
                    ),
                ),
            ],
        ),
    ]
