# The audit moved from deployments/ to portal/audit/: the table stays, only Django's state moves.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("deployments", "0010_deployment_cancelled_by"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('actor', models.CharField(max_length=150)),
                        ('action', models.CharField(db_index=True, max_length=40)),
                        ('source', models.CharField(choices=[('web', 'Web'), ('api', 'Api'), ('admin', 'Admin'), ('worker', 'Worker'), ('cli', 'Cli')], max_length=10)),
                        ('ip', models.GenericIPAddressField(blank=True, null=True)),
                        ('app', models.CharField(blank=True, db_index=True, max_length=60)),
                        ('target', models.CharField(blank=True, max_length=60)),
                        ('deployment', models.BigIntegerField(blank=True, null=True)),
                        ('detail', models.CharField(max_length=500)),
                    ],
                    options={
                        'db_table': 'deployments_auditevent',
                        'ordering': ['-id'],
                    },
                ),
            ],
        ),
    ]
