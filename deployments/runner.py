"""The worker side of a deployment: claim, push, record, finish, start the next one."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from deployments import audit, push
from deployments.models import Deployment, LogLine, Status
from deployments.services import active_lock, enqueue
from portal.actor import Actor
from projects import git, mirror
from projects.git import GitError
from projects.models import Target

log = logging.getLogger("bartender.runner")
_FLUSH_SECONDS = 0.25
_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def run(deployment_id: int) -> int | None:
    """Run the oldest queued deployment of this deployment's target, if it may start now.

    Any worker may be handed any deployment id; the claim decides who pushes.
    """
    target_id = Deployment.objects.filter(pk=deployment_id).values_list("target_id", flat=True).first()
    if target_id is None:
        return None
    deployment = claim_next(target_id)
    if deployment is None:
        return None
    try:
        execute(deployment)
    finally:
        start_next(target_id)
    return deployment.pk


def claim_next(target_id: int) -> Deployment | None:
    """Conditionally move the target's oldest queued deployment to running."""
    target = Target.objects.filter(pk=target_id).first()
    if target is None or active_lock(target) is not None:
        return None
    first = Deployment.objects.filter(target_id=target_id, status=Status.QUEUED).order_by("id").first()
    if first is None:
        return None
    now = timezone.now()
    running = Deployment.objects.filter(target_id=OuterRef("target_id"), status=Status.RUNNING)
    try:
        with transaction.atomic():
            claimed = (
                Deployment.objects.filter(pk=first.pk, status=Status.QUEUED)
                .exclude(Exists(running))
                .update(status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=_WORKER)
            )
    except IntegrityError:  # another worker's claim on this target won the race
        return None
    if not claimed:
        return None
    first.refresh_from_db()
    return first


def start_next(target_id: int) -> None:
    first = Deployment.objects.filter(target_id=target_id, status=Status.QUEUED).order_by("id").first()
    if first is not None:
        enqueue(first.pk)


class _Log:
    """Appends a deployment's output as numbered rows, in small batches, up to a cap."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.n = LogLine.objects.filter(deployment=deployment).count()
        self.size = deployment.log_bytes
        self.pending: list[str] = []
        self.flushed_at = time.monotonic()
        self.cut = False

    def add(self, lines: list[str]) -> None:
        for line in lines:
            if self.cut:
                return
            self.size += len(line.encode()) + 1
            if self.size > settings.LOG_MAX_BYTES:
                self.cut = True
                limit = settings.LOG_MAX_BYTES // (1024 * 1024) or settings.LOG_MAX_BYTES
                unit = "MB" if settings.LOG_MAX_BYTES >= 1024 * 1024 else "bytes"
                line = f"[bartender] The log was cut here at {limit} {unit}; the push went on."
            self.pending.append(line)
        if time.monotonic() - self.flushed_at >= _FLUSH_SECONDS or len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.pending:
            return
        rows = [LogLine(deployment=self.deployment, n=self.n + i + 1, text=text) for i, text in enumerate(self.pending)]
        LogLine.objects.bulk_create(rows)
        self.n += len(rows)
        self.pending = []
        Deployment.objects.filter(pk=self.deployment.pk).update(log_bytes=self.size)


def execute(deployment: Deployment) -> None:
    """Push a claimed deployment and record how it ended; never leaves it running."""
    target, app = deployment.target, deployment.app
    output = _Log(deployment)
    system = Actor.system()
    audit.record(
        actor=system,
        action="deployment.started",
        deployment=deployment,
        detail=f"Started pushing {deployment.short_sha} to {target.slug}.",
    )
    status, reason = Status.FAILED, "The push did not finish."
    creds = git.Credentials(password=target.api_key)
    try:
        output.add([f"[bartender] Deploying {deployment.short_sha} to {target.name} ({target.push_ref})."])
        if not mirror.has_commit(app, deployment.sha):
            output.add(["[bartender] Fetching the repository."])
            mirror.sync(app)
        lease = push.remote_sha(target.push_url, target.push_ref, creds)
        output.add([f"[bartender] The remote is at {lease[:7] or 'nothing yet'}; pushing."])
        output.flush()
        result = push.push(
            mirror=mirror.path(app),
            url=target.push_url,
            sha=deployment.sha,
            push_ref=target.push_ref,
            lease=lease,
            creds=creds,
            on_lines=output.add,
            tick=_ticker(deployment, target.timeout),
        )
        if result.ok:
            status, reason = Status.SUCCEEDED, ""
        elif result.stopped == "cancelled":
            status = Status.CANCELLED
            reason = (
                Deployment.objects.filter(pk=deployment.pk).values_list("reason", flat=True).first() or "Cancelled."
            )
            output.add(["[bartender] Cancelled: git was stopped; the remote is as git left it."])
        else:
            reason = result.reason
    except GitError as error:
        reason = creds.redact(str(error))
    except Exception as error:  # never leave a deployment running because of a bug
        log.exception("deployment %s crashed", deployment.pk)
        reason = creds.redact(f"Internal error: {error.__class__.__name__}.")
    finally:
        if status == Status.FAILED:
            output.add([f"[bartender] Failed: {reason}"])
        elif status == Status.SUCCEEDED:
            output.add([f"[bartender] {target.name} is now at {deployment.short_sha}."])
        output.flush()
        finish(deployment, status=status, reason=reason)


def _ticker(deployment: Deployment, timeout: int):
    started = time.monotonic()
    last_beat = started

    def tick() -> str | None:
        nonlocal last_beat
        now = time.monotonic()
        if now - started > timeout:
            return f"timed out after {timeout} s"
        row = Deployment.objects.filter(pk=deployment.pk).values("status", "cancel_requested").first()
        if row is None or row["status"] != Status.RUNNING:
            return "worker lost"  # the reaper gave up on us; stop pushing
        if row["cancel_requested"]:
            return "cancelled"
        if now - last_beat >= settings.DEPLOY_HEARTBEAT:
            last_beat = now
            Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING).update(heartbeat_at=timezone.now())
        return None

    return tick


def finish(deployment: Deployment, *, status: str, reason: str) -> bool:
    """Move a running deployment to its end state once; the first writer wins."""
    with transaction.atomic():
        done = Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING).update(
            status=status, reason=reason[:500], finished_at=timezone.now()
        )
        if not done:
            return False
        if status == Status.SUCCEEDED:
            Target.objects.filter(pk=deployment.target_id).update(live_sha=deployment.sha)
        detail = {
            Status.SUCCEEDED: f"{deployment.short_sha} is live on {deployment.target.slug}.",
        }.get(status, f"{deployment.short_sha} to {deployment.target.slug}: {reason}")
        audit.record(actor=Actor.system(), action=f"deployment.{status}", deployment=deployment, detail=detail)
    return True


def reap() -> dict[str, int]:
    """Fail running deployments whose worker stopped heart-beating; re-enqueue lost ones."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DEPLOY_STALE_AFTER)
    lost = 0
    for deployment in Deployment.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale):
        if finish(deployment, status=Status.FAILED, reason="worker lost"):
            LogLine.objects.create(
                deployment=deployment,
                n=(deployment.lines.order_by("-n").values_list("n", flat=True).first() or 0) + 1,
                text="[bartender] Failed: worker lost (no heartbeat); the remote is as git left it.",
            )
            lost += 1
            start_next(deployment.target_id)
    # A queued deployment whose target is idle should have started; its task was lost.
    waiting_since = now - timedelta(seconds=settings.DEPLOY_STALE_AFTER)
    running = Deployment.objects.filter(target_id=OuterRef("target_id"), status=Status.RUNNING)
    idle = (
        Deployment.objects.filter(status=Status.QUEUED, created_at__lt=waiting_since)
        .exclude(Exists(running))
        .values_list("target_id", flat=True)
        .distinct()
    )
    requeued = 0
    for target_id in set(idle):
        target = Target.objects.get(pk=target_id)
        if active_lock(target) is None:
            start_next(target_id)
            requeued += 1
    return {"lost": lost, "requeued": requeued}
