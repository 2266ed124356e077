from django.db import migrations

from portal.audit import append_only


def create_triggers(apps, schema_editor):
    append_only.create(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    append_only.drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("deployments", "0005_minute_schedule")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
