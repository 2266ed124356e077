from django.db import migrations, models


class Migration(migrations.Migration):
    """The rollback confirmation's "lock the target afterwards": the reason, kept on the row
    until the deployment starts and the worker takes the lock."""

    dependencies = [
        ("deployments", "0013_approval_health_lead_time"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="lock_after",
            field=models.CharField(blank=True, max_length=500),
        ),
    ]
