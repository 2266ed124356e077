# Lock moved from deployments/ to projects/ (a lock belongs to its target): the table stays.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("projects", "0003_validation_and_idempotency"),
        ("deployments", "0010_deployment_cancelled_by"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Lock',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('reason', models.CharField(max_length=500)),
                        ('by', models.CharField(max_length=150)),
                        ('until', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('target', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='lock', to='projects.target')),
                    ],
                    options={
                        'db_table': 'deployments_lock',
                    },
                ),
            ],
        ),
    ]
