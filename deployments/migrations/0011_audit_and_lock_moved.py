# AuditEvent now lives in portal/audit/ and Lock in projects/: their tables stay where they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("deployments", "0010_deployment_cancelled_by"),
        ("audit", "0001_initial"),
        ("projects", "0004_lock"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="Lock"),
            ],
        ),
    ]
