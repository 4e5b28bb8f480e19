"""The workflows table's `workflow_type` column is renamed `type`, as the services sharing the database expect."""

from django.db import migrations

import mcpadmin.db.fields


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="workflow",
            name="workflow_type",
            field=mcpadmin.db.fields.EnumField(
                choices=[
                    ("sequential", "Sequential"),
                    ("parallel", "Parallel"),
                    ("conditional", "Conditional"),
                    ("loop", "Loop"),
                    ("map_reduce", "Map Reduce"),
                    ("scatter_gather", "Scatter Gather"),
                ],
                db_column="type",
                enum_type="workflow_type",
            ),
        ),
    ]
