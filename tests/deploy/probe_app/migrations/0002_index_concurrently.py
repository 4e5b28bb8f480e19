from django.db import migrations

from mcpadmin.db.migration_ops import CreateIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("probe_app", "0001_objects")]

    operations = [CreateIndexConcurrently("idx_tasks_lower_title", "tasks", "USING btree (lower(title))")]
