from django.db import migrations

from portal.audit import append_only


def create_trigger(apps, schema_editor):
    append_only.create_no_replace(schema_editor.connection)


def drop_trigger(apps, schema_editor):
    append_only.drop_no_replace(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("deployments", "0008_validation_and_idempotency")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
