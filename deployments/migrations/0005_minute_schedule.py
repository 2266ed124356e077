from django.db import migrations


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="bartender-minute",
        defaults={"func": "deployments.tasks.every_minute", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="bartender-minute").delete()


class Migration(migrations.Migration):
    dependencies = [("deployments", "0004_continuous_deployment")]
    operations = [migrations.RunPython(add_schedule, remove_schedule)]
