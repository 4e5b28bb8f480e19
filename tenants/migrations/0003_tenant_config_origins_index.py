import django.contrib.postgres.indexes
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_workspaces"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="tenantconfig",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["allowed_origins"], name="idx_tenant_config_origins"
            ),
        ),
    ]
