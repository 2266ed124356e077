"""Running one deployment in a worker: claim it, check it may still start, fetch, push, finish.

The steps live beside this module: claim.py (who runs next), push.py (git push as a
compare-and-swap, streamed), heartbeat.py, finish.py (its end state, audit, follow-ups),
release_rollback.py (Heroku's fast rollback), reaper.py (lost workers) and shutdown.py (a
qcluster that stops); the lines go through deployments/log.py.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from deployments import gates, kinds
from deployments.credentials import CannotRun, api_key
from deployments.delivery import followups
from deployments.engine import health, push, release_rollback, shutdown
from deployments.engine.claim import claim_next, start_next
from deployments.engine.finish import finish
from deployments.engine.heartbeat import Heartbeat
from deployments.log import DeploymentLog
from deployments.models import Deployment, Kind, Status
from portal import outage
from portal.actor import Actor
from portal.audit import events as audit
from projects import git, mirror
from projects.git import GitError
from projects.validators import url_problem

log = logging.getLogger("bartender.runner")
# How long the last log lines of a finished push wait for an unreachable database.
_LAST_LINES_PATIENCE = 5 * 60
# How long a step before the push waits for an unreachable database (the heartbeat goes on).
_PATIENCE = 60


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
    # After the queue moved on: a health check never holds the target's next deployment.
    health.check_after_push(deployment)
    return deployment.pk


def _start(deployment: Deployment) -> None:
    # Continuous deployment: the CI gate again at start, notifications, Heroku release rollbacks.
    refusal = outage.retrying(lambda: gates.start_refusal(deployment), what="the gates at start", for_seconds=_PATIENCE)
    if refusal:
        finish(deployment, status=Status.FAILED, reason=refusal)
        return
    followups.on_start(deployment)
    (release_rollback.execute if deployment.kind == Kind.RELEASE_ROLLBACK else execute)(deployment)


def _failure_reason(error: Exception) -> str:
    if isinstance(error, CannotRun | GitError):
        return str(error)
    return f"Internal error: {error.__class__.__name__}."


def execute(deployment: Deployment) -> None:
    """Push a claimed deployment and record how it ended; never leaves it running."""
    target = deployment.target
    status, reason = Status.FAILED, "The push did not finish."
    creds, output = git.NO_CREDENTIALS, None
    try:
        # A database restarting just now delays the start; it does not fail the deployment.
        output = outage.retrying(lambda: DeploymentLog(deployment), what="opening the log", for_seconds=_PATIENCE)
        outage.retrying(
            lambda: audit.record(
                actor=Actor.system(),
                action="deployment.started",
                deployment=deployment,
                detail=f"Started pushing {deployment.short_sha} to {target.slug}.",
            ),
            what="auditing the start",
            for_seconds=_PATIENCE,
        )
        creds = git.Credentials(password=api_key(target))
        with Heartbeat(deployment.pk):
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
                output.flush(wait=_LAST_LINES_PATIENCE)  # lines kept through an outage go in now
        except Exception:  # the outcome rests on the push: a lost log line must not lose it
            log.exception("deployment %s: the last log lines could not be stored", deployment.pk)
        finish(deployment, status=status, reason=reason)


def _fetch_and_push(deployment: Deployment, output: DeploymentLog, creds: git.Credentials) -> push.PushResult:
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
    outage.retrying(lambda: _settle(deployment, output), what="settling the kind", for_seconds=_PATIENCE)
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


def _settle(deployment: Deployment, output: DeploymentLog) -> None:
    """Kind and distance against what was live when this deployment started (the claim stored it).

    The request only forecast them: deployments queued ahead of it may have changed what is live.
    """
    live = deployment.previous_sha
    # A live commit the repository no longer has (history rewritten) has no ancestry to read.
    lost = bool(live) and not mirror.has_commit(deployment.app, live)
    kind, back = (Kind.DEPLOY, 0) if lost else kinds.kind_of(deployment.app, live, deployment.sha)
    Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING).update(kind=kind, commits_back=back)
    deployment.kind, deployment.commits_back = kind, back
    where = f" from {live[:7]}" if live else ""
    distance = f", {back} commit{'s' if back != 1 else ''} back" if back else ""
    output.note(f"This is a {kind}{where}{distance}.")


_CANCELLED = "cancelled"


def _ticker(deployment: Deployment, timeout: int):
    """What the push asks about once a second: go on (None), or why to end git now."""
    started = time.monotonic()

    def tick() -> str | None:
        if time.monotonic() - started > timeout:
            return f"timed out after {timeout} s"
        stop_at = shutdown.stop_requested_at()
        if stop_at is not None and time.time() - stop_at > settings.DEPLOY_STOP_GRACE:
            return (
                f"worker stopped: the worker was shut down and the push did not finish "
                f"within {settings.DEPLOY_STOP_GRACE} s; it is not run again by itself"
            )
        try:
            row = Deployment.objects.filter(pk=deployment.pk).values("status", "cancel_requested").first()
        except outage.OUTAGE_ERRORS:
            # The database is restarting: a push going fine goes on; the next tick asks again.
            outage.reconnect()
            return None
        if row is None or row["status"] != Status.RUNNING:
            return "worker lost"  # the reaper gave up on us; stop pushing
        if row["cancel_requested"]:
            return _CANCELLED
        return None

    return tick


