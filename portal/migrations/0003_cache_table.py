from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # django-q2 keeps its cluster statistics in the cache; /healthz reads them from here.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("portal", "0002_initial")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
