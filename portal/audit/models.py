from django.db import models


class AuditEvent(models.Model):
    """Append-only history. Plain columns (no foreign keys) so deleting things keeps it."""

    class Source(models.TextChoices):
        WEB = "web"
        API = "api"
        ADMIN = "admin"
        WORKER = "worker"
        CLI = "cli"
        SSO = "sso"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=40, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    app = models.CharField(max_length=60, blank=True, db_index=True)
    target = models.CharField(max_length=60, blank=True)
    deployment = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500)

    class Meta:
        # The table keeps the name it had when the audit lived in deployments/ (its triggers too).
        db_table = "deployments_auditevent"
        ordering = ["-id"]
        # The filtered audit pages read newest first within one app, action or actor.
        indexes = [
            models.Index(fields=["app", "id"], name="audit_app_id"),
            models.Index(fields=["action", "id"], name="audit_action_id"),
            models.Index(fields=["actor", "id"], name="audit_actor_id"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action}"
