from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import App, Target


class Status(models.TextChoices):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class Kind(models.TextChoices):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    REDEPLOY = "redeploy"
    RELEASE_ROLLBACK = "release_rollback"  # Heroku: back to an earlier release, no git push


class Health(models.TextChoices):
    CHECKING = "checking"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class Deployment(models.Model):
    # The composite indexes below lead with these columns; single-column FK indexes would tempt
    # the planner (SQLite without ANALYZE) into scanning a whole app's deployments.
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="deployments", db_index=False)
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="deployments", db_index=False)
    sha = models.CharField(max_length=40)
    ref = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DEPLOY)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    requested_by_name = models.CharField(max_length=150)
    note = models.CharField(max_length=500, blank=True)
    previous_sha = models.CharField(max_length=40, blank=True)
    commits_back = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it ended as it did.")
    idempotency_key = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Who asked to cancel (name, source, IP), so the worker that stops the push audits that person.
    cancelled_by = models.CharField(max_length=150, blank=True)
    cancelled_source = models.CharField(max_length=10, blank=True)
    cancelled_ip = models.GenericIPAddressField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    log_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Continuous deployment: queued by auto-deploy, CI gate overridden (the reason), Heroku release.
    automatic = models.BooleanField(default=False)
    ci_override = models.CharField(max_length=500, blank=True)
    heroku_release_id = models.CharField(max_length=64, blank=True)
    heroku_release_version = models.PositiveIntegerField(null=True, blank=True)
    # The deployment GitHub keeps of this one (deployments/delivery/github_api.py), once created.
    github_deployment_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # Two-person approval: who approved and when; the deadline; the break-glass reasons.
    approved_by = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    approval_override = models.CharField(max_length=500, blank=True)
    window_override = models.CharField(max_length=500, blank=True)
    # Verified deploys: null (no check), checking, healthy, unhealthy.
    health = models.CharField(max_length=10, choices=Health.choices, null=True, blank=True)
    # "Lock the target afterwards" (the rollback confirmation): the lock's reason, taken when this
    # deployment starts, so the lock holds whatever is queued behind it but not the rollback itself.
    lock_after = models.CharField(max_length=500, blank=True)
    # Insights: seconds from the commit's date to this deployment's success, stored when it finishes.
    lead_time_seconds = models.PositiveBigIntegerField(null=True, blank=True)
    rollback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="For a release rollback: the deployment whose Heroku release comes back.",
    )  # fmt: skip

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The database, not a flag in memory, keeps one push per target at a time.
            models.UniqueConstraint(fields=["target"], condition=Q(status="running"), name="one_running_per_target"),
            # Auto-deploy queues at most one deployment per target: a newer head supersedes it.
            models.UniqueConstraint(
                fields=["target"], condition=Q(status="queued", automatic=True), name="one_queued_auto_per_target"
            ),
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(status="pending_approval", automatic=True),
                name="one_pending_auto_per_target",
            ),
            # Two first attempts with one Idempotency-Key at once still make one deployment.
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="one_deployment_per_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["target", "status", "id"], name="deploy_target_status"),
            models.Index(fields=["target", "id"], name="deploy_target_newest"),
            models.Index(fields=["app", "sha", "target", "status"], name="deploy_app_sha_marks"),
            models.Index(fields=["status", "heartbeat_at"], name="deploy_status_heartbeat"),
            models.Index(fields=["app", "finished_at"], name="deploy_app_finished"),
            models.Index(fields=["status", "approval_expires_at"], name="deploy_approval_expiry"),
            models.Index(fields=["health", "heartbeat_at"], name="deploy_health_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.sha[:7]} to {self.target}"

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class LogLine(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="lines")
    n = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["n"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "n"], name="log_line_unique"),
        ]


class Webhook(models.Model):
    """An outgoing notification endpoint of one app."""

    class Format(models.TextChoices):
        SLACK = "slack", 'Slack-compatible ({"text": ...})'
        JSON = "json", "JSON signed with HMAC-SHA256"

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=1000)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.SLACK)
    secret_encrypted = models.TextField(blank=True, editable=False)
    events = models.JSONField(default=list, blank=True, help_text="Events to send; empty means all.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.app.slug}: {self.name}"


class Delivery(models.Model):
    """One attempt to send one event to one webhook; a retry is a new row."""

    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    attempt = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    due_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["state", "due_at"], name="delivery_state_due")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook} (try {self.attempt}): {self.state}"
