from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import F, Q

from portal import crypto
from projects.validators import (
    validate_branch,
    validate_git_url,
    validate_push_ref,
    validate_remote_patterns,
    validate_slug,
)


class App(models.Model):
    slug = models.SlugField(max_length=60, unique=True, validators=[validate_slug])
    name = models.CharField(max_length=120)
    repo_url = models.CharField(max_length=500, validators=[validate_git_url])
    default_branch = models.CharField(max_length=255, default="main", validators=[validate_branch])
    # Read credentials for private repositories, encrypted at rest (write-only in forms).
    repo_username = models.CharField(max_length=120, blank=True)
    repo_token_encrypted = models.TextField(blank=True, editable=False)
    ssh_key_encrypted = models.TextField(blank=True, editable=False)
    ssh_known_hosts = models.TextField(blank=True, help_text="known_hosts line(s) for the repository's SSH host.")
    # The secret GitHub signs webhooks with (X-Hub-Signature-256); write-only, encrypted.
    github_secret_encrypted = models.TextField(blank=True, editable=False)
    # A GitHub token that may write deployments of the app's repository (deployments/delivery/
    # github_api.py reports each deployment to GitHub with it); write-only, encrypted.
    github_token_encrypted = models.TextField(blank=True, editable=False)
    # Where app admins may point targets (staff set it): patterns, `*` any run of characters.
    allowed_remotes = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_remote_patterns],
        help_text="Remote URL patterns app admins may use; * matches any run of characters.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def repo_token(self) -> str:
        return crypto.decrypt(self.repo_token_encrypted)

    @property
    def ssh_key(self) -> str:
        return crypto.decrypt(self.ssh_key_encrypted)

    @property
    def github_secret(self) -> str:
        return crypto.decrypt(self.github_secret_encrypted)

    @property
    def github_token(self) -> str:
        return crypto.decrypt(self.github_token_encrypted)


class Target(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="targets")
    slug = models.SlugField(max_length=60, validators=[validate_slug])
    name = models.CharField(max_length=120)
    remote_url = models.CharField(max_length=500, blank=True, validators=[validate_git_url])
    heroku_app = models.CharField(max_length=100, blank=True)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    push_ref = models.CharField(max_length=255, default="refs/heads/main", validators=[validate_push_ref])
    protected = models.BooleanField(default=False)
    require_ci = models.BooleanField(default=False)
    required_contexts = models.JSONField(default=list, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Push timeout; empty means the installation default."
    )
    live_sha = models.CharField(max_length=40, blank=True)
    auto_deploy_branch = models.CharField(
        max_length=255,
        blank=True,
        validators=[validate_branch],
        help_text="Deploy this branch's head whenever it changes (and is green).",
    )
    # The head auto-deploy last acted on, so each new head is queued once.
    auto_deploy_head = models.CharField(max_length=40, blank=True, editable=False)
    # Deploy policy (CONTRACT "Two-person approval", "Deploy windows and freezes").
    require_approval = models.BooleanField(
        default=False, help_text="A second person who could deploy here approves each deployment."
    )
    approval_minutes = models.PositiveIntegerField(
        default=60, help_text="A deployment not approved within this many minutes is cancelled."
    )
    windows = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"kind": "allow"|"deny", "schedule": "0 9 * * 1-5", "duration": "8h", '
        '"timezone": "Europe/Berlin", "reason": ""}]',
    )
    rollbacks_during_freeze = models.BooleanField(
        default=True, help_text="Rollbacks may go out during a freeze or outside the windows."
    )
    # Verified deploys (CONTRACT "Verified deploys").
    health_url = models.URLField(
        max_length=1000, blank=True, help_text="Polled after a push until it answers 2xx three times in a row."
    )
    health_timeout = models.PositiveIntegerField(default=60, help_text="Seconds before the check gives up: unhealthy.")
    auto_rollback = models.BooleanField(
        default=False, help_text="An unhealthy deployment queues a rollback to the previous live commit."
    )
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["app", "slug"], name="target_slug_unique_per_app"),
            models.CheckConstraint(
                condition=(Q(remote_url="") & ~Q(heroku_app="")) | (~Q(remote_url="") & Q(heroku_app="")),
                name="target_has_one_remote",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.app.slug}/{self.slug}"

    @property
    def api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted)

    @property
    def push_url(self) -> str:
        if self.heroku_app:
            return settings.HEROKU_GIT_URL.format(app=self.heroku_app)
        return self.remote_url

    @property
    def timeout(self) -> int:
        """The push timeout, capped below the task timeout so the queue never kills a push."""
        wanted = self.timeout_seconds or settings.DEPLOY_TIMEOUT
        return max(1, min(wanted, settings.TASK_TIMEOUT - 60))


class Freeze(models.Model):
    """Nothing ships to the app (or, without app, to every app) from starts_at to ends_at."""

    app = models.ForeignKey(App, null=True, blank=True, on_delete=models.CASCADE, related_name="freezes")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    # Target slugs the freeze holds; empty means every target (of the app, or of every app).
    targets = models.JSONField(default=list, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["ends_at"], name="freeze_ends_at")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="freeze_ends_after_start"),
        ]

    def __str__(self) -> str:
        where = self.app.slug if self.app_id else "every app"
        return f"{where}: {self.reason} ({self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M})"


class Role(models.TextChoices):
    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


ROLE_RANK = {None: 0, Role.VIEWER: 1, Role.DEPLOYER: 2, Role.ADMIN: 3}


class Access(models.Model):
    """A role on one app, granted to a user or to a team (a Django group)."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    deploy_protected = models.BooleanField(
        default=False, help_text="May deploy, cancel, lock and unlock protected targets."
    )

    class Meta:
        verbose_name_plural = "access"
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="access_user_xor_team",
            ),
            models.UniqueConstraint(fields=["app", "user"], condition=Q(user__isnull=False), name="access_user_once"),
            models.UniqueConstraint(fields=["app", "team"], condition=Q(team__isnull=False), name="access_team_once"),
        ]

    def __str__(self) -> str:
        who = self.user.username if self.user_id else f"team {self.team.name}"
        return f"{who}: {self.role} on {self.app.slug}"


class CiState(models.TextChoices):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


class CommitStatus(models.Model):
    """The latest state one CI context reported for one commit of an app."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="commit_statuses")
    sha = models.CharField(max_length=40)
    context = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=CiState.choices)
    target_url = models.URLField(max_length=1000, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # When the CI system says it happened: an older report arriving late (a replay) loses.
    reported_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "commit statuses"
        ordering = ["context"]
        constraints = [
            models.UniqueConstraint(fields=["app", "sha", "context"], name="commit_status_once_per_context"),
        ]

    def __str__(self) -> str:
        return f"{self.sha[:7]} {self.context}: {self.state}"


class Lock(models.Model):
    target = models.OneToOneField(Target, on_delete=models.CASCADE, related_name="lock")
    reason = models.CharField(max_length=500)
    by = models.CharField(max_length=150)
    until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table keeps the name it had when locks lived in deployments/.
        db_table = "deployments_lock"

    def __str__(self) -> str:
        return f"{self.target} locked by {self.by}: {self.reason}"
