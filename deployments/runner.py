"""The worker side of a deployment: claim, push, record, finish, start the next one."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from deployments import audit, followups, push, releases, worker
from deployments.models import Deployment, Kind, LogLine, Status
from deployments.services import active_lock, enqueue, start_refusal
from portal.actor import Actor
from projects import git, mirror
from projects.git import GitError
from projects.models import Target
from projects.validators import url_problem

log = logging.getLogger("bartender.runner")
_FLUSH_SECONDS = 0.25


def _worker_name() -> str:
    # Computed per claim: django-q2 forks its workers after this module may be imported.
    return f"{settings.WORKER_NAME or socket.gethostname()}:{os.getpid()}"


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
        _start(deployment)
    except Exception as error:
        # Whatever breaks between the claim and the end of the push ends the deployment now, with
        # its cause, instead of leaving it running until the reaper calls it "worker lost".
        log.exception("deployment %s could not run", deployment.pk)
        try:
            finish(deployment, status=Status.FAILED, reason=_failure_reason(error))
        except Exception:  # the database itself is failing: the reaper ends it later
            log.exception("deployment %s could not be finished", deployment.pk)
    finally:
        start_next(target_id)
    return deployment.pk


def _start(deployment: Deployment) -> None:
    # Continuous deployment: the CI gate again at start, notifications, Heroku release rollbacks.
    refusal = start_refusal(deployment)
    if refusal:
        finish(deployment, status=Status.FAILED, reason=refusal)
        return
    followups.on_start(deployment)
    (releases.execute if deployment.kind == Kind.RELEASE_ROLLBACK else execute)(deployment)


class CannotRun(Exception):
    """Why a claimed deployment cannot go on, as a sentence for its page."""


def api_key(target: Target) -> str:
    """The target's API key, or CannotRun when ENCRYPTION_KEY changed since it was stored."""
    try:
        return target.api_key
    except ValueError:
        raise CannotRun("The target's API key cannot be read with this ENCRYPTION_KEY; set it again.") from None


def _failure_reason(error: Exception) -> str:
    if isinstance(error, CannotRun | GitError):
        return str(error)
    return f"Internal error: {error.__class__.__name__}."


def claim_next(target_id: int) -> Deployment | None:
    """Conditionally move the target's oldest queued deployment to running."""
    target = Target.objects.filter(pk=target_id).first()
    if target is None or active_lock(target) is not None:
        return None
    first = Deployment.objects.filter(target_id=target_id, status=Status.QUEUED).order_by("id").first()
    if first is None:
        return None
    if worker.stop_requested_at() is not None:
        # This cluster is shutting down: leave it queued, for another cluster or the next start.
        enqueue(first.pk)
        return None
    now = timezone.now()
    running = Deployment.objects.filter(target_id=OuterRef("target_id"), status=Status.RUNNING)
    try:
        with transaction.atomic():
            claimed = (
                Deployment.objects.filter(pk=first.pk, status=Status.QUEUED)
                .exclude(Exists(running))
                .update(status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=_worker_name())
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
    """Appends a deployment's output as numbered rows, in small batches, up to a cap.

    git's output counts against LOG_MAX_BYTES; Bartender's own notes (`note`) always go in,
    so a cut log still says how the deployment ended.
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.n = _last_line(deployment.pk)
        self.size = deployment.log_bytes
        self.pending: list[str] = []
        self.flushed_at = time.monotonic()
        self.cut = False

    def add(self, lines: list[str]) -> None:
        for line in lines:
            if self.cut:
                break
            self.size += len(line.encode()) + 1
            if self.size > settings.LOG_MAX_BYTES:
                self.cut = True
                line = f"[bartender] The log was cut here at {_size_text(settings.LOG_MAX_BYTES)}; the push went on."
            self.pending.append(line)
        if time.monotonic() - self.flushed_at >= _FLUSH_SECONDS or len(self.pending) >= 500:
            self.flush()

    def note(self, text: str) -> None:
        self.pending.append(f"[bartender] {text}")

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.pending:
            return
        try:
            with transaction.atomic():
                self._write()
        except IntegrityError:
            # The reaper wrote a line meanwhile (it gave up on us); number ours after it.
            self.n = _last_line(self.deployment.pk)
            with transaction.atomic():
                self._write()
        self.pending = []

    def _write(self) -> None:
        rows = [LogLine(deployment=self.deployment, n=self.n + i + 1, text=text) for i, text in enumerate(self.pending)]
        LogLine.objects.bulk_create(rows)
        Deployment.objects.filter(pk=self.deployment.pk).update(log_bytes=self.size)
        self.n += len(rows)


def _last_line(deployment_id: int) -> int:
    return LogLine.objects.filter(deployment_id=deployment_id).order_by("-n").values_list("n", flat=True).first() or 0


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size} bytes"


class _Heartbeat:
    """Writes the deployment's heartbeat from a thread for the whole run, fetch included.

    A long fetch must not look like a dead worker. The beats stop after TASK_TIMEOUT, when
    django-q2 would have killed the task anyway, so a hung worker is still reaped.
    """

    def __init__(self, deployment_id: int) -> None:
        self.deployment_id = deployment_id
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{deployment_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _beat(self) -> None:
        until = time.monotonic() + settings.TASK_TIMEOUT
        try:
            while not self.done.wait(settings.DEPLOY_HEARTBEAT) and time.monotonic() < until:
                try:
                    Deployment.objects.filter(pk=self.deployment_id, status=Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a busy database now and then: the next beat tries again
                    log.warning("heartbeat of deployment %s failed", self.deployment_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


def execute(deployment: Deployment) -> None:
    """Push a claimed deployment and record how it ended; never leaves it running."""
    target = deployment.target
    status, reason = Status.FAILED, "The push did not finish."
    creds, output = git.NO_CREDENTIALS, None
    try:
        output = _Log(deployment)
        audit.record(
            actor=Actor.system(),
            action="deployment.started",
            deployment=deployment,
            detail=f"Started pushing {deployment.short_sha} to {target.slug}.",
        )
        creds = git.Credentials(password=api_key(target))
        with _Heartbeat(deployment.pk):
            result = _fetch_and_push(deployment, output, creds)
        if result.ok:
            status, reason = Status.SUCCEEDED, ""
        elif result.stopped == _CANCELLED:
            status = Status.CANCELLED
            reason = (
                Deployment.objects.filter(pk=deployment.pk).values_list("reason", flat=True).first() or "Cancelled."
            )
            if result.started:
                output.note("Cancelled: git was stopped; the remote is as git left it.")
            else:
                output.note("Cancelled before the push: nothing was pushed.")
        else:
            reason = result.reason
    except (CannotRun, GitError) as error:
        reason = creds.redact(str(error))
    except Exception as error:  # never leave a deployment running because of a bug
        log.exception("deployment %s crashed", deployment.pk)
        reason = creds.redact(_failure_reason(error))
    finally:
        try:
            if output is not None:
                if status == Status.FAILED:
                    output.note(f"Failed: {reason}")
                elif status == Status.SUCCEEDED:
                    output.note(f"{target.name} is now at {deployment.short_sha}.")
                output.flush()
        except Exception:  # the outcome rests on the push: a lost log line must not lose it
            log.exception("deployment %s: the last log lines could not be stored", deployment.pk)
        finish(deployment, status=status, reason=reason)


def _fetch_and_push(deployment: Deployment, output: _Log, creds: git.Credentials) -> push.PushResult:
    target, app = deployment.target, deployment.app
    problem = url_problem(target.push_url)  # again here: this worker's DATA_DIR may differ from the web's
    if problem:
        raise GitError(f"The remote URL {problem}.")
    # The target's timeout counts from here, fetch included, so it stays below the task timeout.
    tick = _ticker(deployment, target.timeout)
    output.note(f"Deploying {deployment.short_sha} to {target.name} ({target.push_ref}).")
    if not mirror.has_commit(app, deployment.sha):
        # git fetch cannot be stopped half way from here: a cancel or the timeout is read just
        # before and just after it, so neither waits for the remote to be read and pushed to.
        stopped = tick()
        if stopped:
            return push.PushResult(ok=False, reason=stopped, stopped=stopped, started=False)
        output.note("Fetching the repository.")
        output.flush()
        mirror.sync(app)
        stopped = tick()
        if stopped:
            return push.PushResult(ok=False, reason=stopped, stopped=stopped, started=False)
    lease = push.remote_sha(target.push_url, target.push_ref, creds)
    output.note(f"The remote is at {lease[:7] or 'nothing yet'}; pushing.")
    output.flush()
    return push.push(
        mirror=mirror.path(app),
        url=target.push_url,
        sha=deployment.sha,
        push_ref=target.push_ref,
        lease=lease,
        creds=creds,
        on_lines=output.add,
        tick=tick,
    )


_CANCELLED = "cancelled"


def _ticker(deployment: Deployment, timeout: int):
    """What the push asks about once a second: go on (None), or why to end git now."""
    started = time.monotonic()

    def tick() -> str | None:
        if time.monotonic() - started > timeout:
            return f"timed out after {timeout} s"
        stop_at = worker.stop_requested_at()
        if stop_at is not None and time.time() - stop_at > settings.DEPLOY_STOP_GRACE:
            return (
                f"worker stopped: the worker was shut down and the push did not finish "
                f"within {settings.DEPLOY_STOP_GRACE} s; it is not run again by itself"
            )
        row = Deployment.objects.filter(pk=deployment.pk).values("status", "cancel_requested").first()
        if row is None or row["status"] != Status.RUNNING:
            return "worker lost"  # the reaper gave up on us; stop pushing
        if row["cancel_requested"]:
            return _CANCELLED
        return None

    return tick


def finish(deployment: Deployment, *, status: str, reason: str, note: str = "") -> bool:
    """Move a running deployment to its end state once; the first writer wins.

    `note` is a last log line written in the same transaction, so whoever sees the end state
    (the deployment page stops polling then) also sees the line that explains it.
    """
    with transaction.atomic():
        done = Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING).update(
            status=status, reason=reason[:500], finished_at=timezone.now()
        )
        if not done:
            return False
        if note:
            _say_last(deployment, note)
        if status == Status.SUCCEEDED:
            Target.objects.filter(pk=deployment.target_id).update(live_sha=deployment.sha)
        detail = {
            Status.SUCCEEDED: f"{deployment.short_sha} is live on {deployment.target.slug}.",
        }.get(status, f"{deployment.short_sha} to {deployment.target.slug}: {reason}")
        cancel = (
            Deployment.objects.filter(pk=deployment.pk, cancel_requested=True)
            .values("cancelled_by", "cancelled_source", "cancelled_ip")
            .first()
        )
        actor = Actor.system()
        if status == Status.CANCELLED and cancel and cancel["cancelled_by"]:
            actor = _canceller(cancel)
        audit.record(actor=actor, action=f"deployment.{status}", deployment=deployment, detail=detail)
    if cancel and status != Status.CANCELLED:
        # The push ended before the worker read the cancel: the outcome stands, the request is
        # kept in the log (the audit has one event for how the deployment ended).
        who = cancel["cancelled_by"] or "someone"
        _say_last(deployment, f"{who} asked to cancel, but the deployment had already {status}.")
    followups.on_finish(deployment)
    return True


def _canceller(cancel: dict) -> Actor:
    """The person who asked to cancel, as the actor of the deployment.cancelled event."""
    from django.contrib.auth import get_user_model

    # An unsaved user carries the name: the audit stores names, and the user may be gone by now.
    user = get_user_model()(username=cancel["cancelled_by"])
    return Actor(user=user, source=cancel["cancelled_source"] or "worker", ip=cancel["cancelled_ip"])


def reap() -> dict[str, int]:
    """Fail running deployments whose worker stopped heart-beating; re-enqueue lost ones.

    Every worker cluster runs this every DEPLOY_REAP_EVERY seconds (deployments.worker); the
    conditional updates make concurrent reapers harmless.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DEPLOY_STALE_AFTER)
    lost = 0
    for deployment in Deployment.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale):
        if finish(
            deployment,
            status=Status.FAILED,
            reason="worker lost",
            note="Failed: worker lost (no heartbeat); the remote is as git left it.",
        ):
            lost += 1
            start_next(deployment.target_id)
    # A queued deployment on an idle, unlocked target should have started: its task was lost
    # (the Redis broker drops a killed worker's task), or the lock that held it expired.
    running = Deployment.objects.filter(target_id=OuterRef("target_id"), status=Status.RUNNING)
    idle = (
        Deployment.objects.filter(status=Status.QUEUED, created_at__lt=stale)
        .exclude(Exists(running))
        .values_list("target_id", flat=True)
        .distinct()
    )
    requeued = 0
    for target in Target.objects.filter(pk__in=set(idle)):
        # One new task per target per staleness period across all reapers, not one per round:
        # a task may only be waiting behind busy workers.
        if active_lock(target) is None and cache.add(f"bartender:requeued:{target.pk}", 1, settings.DEPLOY_STALE_AFTER):
            start_next(target.pk)
            requeued += 1
    return {"lost": lost, "requeued": requeued}


def _say_last(deployment: Deployment, text: str) -> None:
    for _ in range(3):  # the worker, if it still lives, may be appending too
        try:
            with transaction.atomic():  # a savepoint: a clash must not spoil a caller's transaction
                LogLine.objects.create(
                    deployment=deployment, n=_last_line(deployment.pk) + 1, text=f"[bartender] {text}"
                )
            return
        except IntegrityError:
            continue
