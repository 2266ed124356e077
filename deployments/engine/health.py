"""Verified deploys: the health check after a successful push, and what an unhealthy one sets off.

After a push succeeded, and after the target's queue moved on (the next deployment may already
run: a check never holds the queue), the worker polls the target's `health_url` through
portal/outbound.py: the outgoing-HTTP rule again at every probe, 5 s per request, redirects never
followed (a 3xx counts as a failure), a growing but bounded pause after each failure. Three 2xx
answers in a row make the deployment `healthy`; `health_timeout` passing first makes it
`unhealthy`. Each probe is a line of the deployment's log. The deployment's status still rests
on the push alone (CONTRACT.md, "Verified deploys").

While it checks, the worker beats the deployment's heartbeat; a worker killed mid-check leaves a
stale `checking` row that the reaper turns `unhealthy` ("check interrupted", `reap_interrupted`).

An unhealthy deployment is audited (`deployment.unhealthy`) and notified. With the target's
`auto_rollback` it also queues a rollback to the sha that was live before it, requested by
`system`, unless `_why_not_rolled_back` names a reason: it is itself a rollback (no loops),
nothing different was live before it, the target is locked (a person holds it), or it is no
longer the live deployment (a later one succeeded, runs or waits in the queue). The rollback is
queued with `services.deployment_queue` directly, past the request gates (lock, CI, approval,
windows): it restores what was live. Windows and freezes still hold it at start as the target's
`rollbacks_during_freeze` says.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from deployments import services
from deployments.delivery import followups
from deployments.engine import shutdown
from deployments.engine.heartbeat import Heartbeat
from deployments.log import DeploymentLog, append_last
from deployments.models import Deployment, Health, Kind, Status
from portal import outbound
from portal.actor import Actor
from portal.audit import events as audit
from projects import ci
from projects.locks import active_lock
from projects.models import Target

log = logging.getLogger("bartender.health")

PROBE_TIMEOUT = 5.0  # seconds per request (httpx: connect, and each read between bytes)
IN_A_ROW = 3  # 2xx answers in a row that make a deployment healthy
PAUSE_AFTER_SUCCESS = 1.0  # seconds before the next probe after a 2xx
FIRST_PAUSE = 1.0  # seconds after the first failure, doubled after each further one in a row ...
MAX_PAUSE = 8.0  # ... up to this
_ANSWER_KEPT = 1024  # bytes of a health answer read; nothing uses them
AUTO_NOTE = "automatic rollback: health check failed on #{pk}"
INTERRUPTED = "check interrupted"


@dataclass(frozen=True)
class Probe:
    ok: bool
    said: str  # what came back: "HTTP 503", or why nothing did
    line: str  # the log line: when, what came back, how long it took


def probe(url: str) -> Probe:
    """One GET of the health URL; 2xx is healthy, anything else (3xx included) is not."""
    at = timezone.now()
    started = time.monotonic()
    try:
        answer = outbound.request(
            "GET", url, about="the health URL", timeout=PROBE_TIMEOUT, max_body=_ANSWER_KEPT, public_only=True
        )
        ok, said = answer.ok, f"HTTP {answer.status}"
    except outbound.OutboundError as problem:
        ok, said = False, str(problem).rstrip(".")
    took = int((time.monotonic() - started) * 1000)
    return Probe(ok=ok, said=said, line=f"{at:%H:%M:%S} UTC · {said} · {took} ms")


class _CheckBeat(Heartbeat):
    """The deployment's heartbeat while its health is checked (its status is succeeded by then)."""

    def rows(self) -> QuerySet[Deployment]:
        return Deployment.objects.filter(pk=self.deployment_id, health=Health.CHECKING)


def check_after_push(deployment: Deployment) -> str | None:
    """Check the health of a deployment that just finished, when it succeeded and its target has a
    health URL; answers the verdict (`healthy`, `unhealthy`) or None when nothing was checked.

    Never raises: whatever breaks ends the check as unhealthy ("check interrupted"), at once or,
    when the database itself is away, by the reaper once the heartbeat is stale.
    """
    try:
        target = Target.objects.filter(pk=deployment.target_id).first()
        if target is None or not target.health_url:
            return None
        now = timezone.now()
        if not Deployment.objects.filter(pk=deployment.pk, status=Status.SUCCEEDED, health__isnull=True).update(
            health=Health.CHECKING, heartbeat_at=now
        ):
            return None
    except Exception:  # the push's outcome is recorded; without a database there is nothing to check
        log.exception("the health check of deployment %s could not start", deployment.pk)
        return None
    try:
        deployment = Deployment.objects.select_related("app", "target").get(pk=deployment.pk)
        with _CheckBeat(deployment.pk):
            return _check(deployment, target, budget=_budget(target, deployment, now))
    except Exception:
        log.exception("health check of deployment %s broke", deployment.pk)
        try:
            mark_unhealthy(deployment, why=f"{INTERRUPTED} (an error in the worker)", interrupted=True)
        except Exception:
            log.exception("deployment %s is left to the reaper", deployment.pk)
        return Health.UNHEALTHY


def _budget(target: Target, deployment: Deployment, now: datetime) -> int:
    """The target's health_timeout, cut so the worker's task ends before django-q2 kills it."""
    spent = (now - deployment.started_at).total_seconds() if deployment.started_at else 0
    return max(1, min(target.health_timeout, int(settings.TASK_TIMEOUT - 60 - spent)))


def _check(deployment: Deployment, target: Target, *, budget: int) -> str | None:
    output = DeploymentLog(deployment)
    output.note(f"Checking health: {target.health_url} must answer 2xx {IN_A_ROW} times in a row within {budget} s.")
    output.flush()
    deadline = time.monotonic() + budget
    in_a_row = failures = 0
    for n in range(1, 100_000):
        if not Deployment.objects.filter(pk=deployment.pk, health=Health.CHECKING).exists():
            return None  # the reaper gave up on this check: it has said so
        found = probe(target.health_url)
        output.note(f"Health check {n}: {found.line}")
        output.flush()
        in_a_row, failures = (in_a_row + 1, 0) if found.ok else (0, failures + 1)
        if in_a_row >= IN_A_ROW:
            return _healthy(deployment, output, probes=n)
        left = deadline - time.monotonic()
        if left <= 0:
            why = f"the health URL did not answer 2xx {IN_A_ROW} times in a row within {budget} s (last: {found.said})"
            return _unhealthy(deployment, output, why=why)
        pause = PAUSE_AFTER_SUCCESS if found.ok else min(MAX_PAUSE, FIRST_PAUSE * 2 ** (failures - 1))
        if not _sleep(min(pause, left)):
            return _unhealthy(deployment, output, why=f"{INTERRUPTED} (the worker was stopped)", interrupted=True)
    return None  # not reached: the deadline ends the loop first


def _sleep(seconds: float) -> bool:
    """Pause; False as soon as this worker was asked to stop longer than DEPLOY_STOP_GRACE ago."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        stop_at = shutdown.stop_requested_at()
        if stop_at is not None and time.time() - stop_at > settings.DEPLOY_STOP_GRACE:
            return False
        time.sleep(min(left, 0.5))
    return True


def _healthy(deployment: Deployment, output: DeploymentLog, *, probes: int) -> str | None:
    with transaction.atomic():
        if not Deployment.objects.filter(pk=deployment.pk, health=Health.CHECKING).update(health=Health.HEALTHY):
            return None
        output.note(f"Healthy: 2xx {IN_A_ROW} times in a row ({probes} probe{'s' if probes != 1 else ''}).")
        output.flush()
    return Health.HEALTHY


def _unhealthy(deployment: Deployment, output: DeploymentLog, *, why: str, interrupted: bool = False) -> str | None:
    output.flush()
    return Health.UNHEALTHY if mark_unhealthy(deployment, why=why, interrupted=interrupted) else None


def reap_interrupted(stale: datetime) -> int:
    """Checks whose worker stopped heart-beating (killed mid-check) end unhealthy, status unchanged.

    Nothing is rolled back automatically after an interrupted check: nobody saw the app fail, only
    the worker die; the alert lets a person look.
    """
    ended = 0
    lost = Deployment.objects.filter(health=Health.CHECKING, heartbeat_at__lt=stale).select_related("app", "target")
    for deployment in lost:
        why = f"{INTERRUPTED} (the worker checking it was lost: no heartbeat)"
        ended += mark_unhealthy(deployment, why=why, interrupted=True)
    return ended


def mark_unhealthy(deployment: Deployment, *, why: str, interrupted: bool = False) -> bool:
    """Move a checking deployment to unhealthy once (the first writer wins): log, audit, rollback
    when it is due, then the notification. `why` completes "is unhealthy: ..."."""
    rollback: Deployment | None = None
    with transaction.atomic():
        if not Deployment.objects.filter(pk=deployment.pk, health=Health.CHECKING).update(health=Health.UNHEALTHY):
            return False
        deployment = Deployment.objects.select_related("app", "target").get(pk=deployment.pk)
        target = deployment.target
        if interrupted:
            refusal = "nothing is rolled back after an interrupted check"
        else:
            refusal = _why_not_rolled_back(deployment, target)
        next_step = (
            f"an automatic rollback to {deployment.previous_sha[:7]} is queued"
            if refusal is None
            else f"not rolled back automatically: {refusal}"
        )
        audit.record(
            actor=Actor.system(),
            action="deployment.unhealthy",
            deployment=deployment,
            detail=f"{deployment.short_sha} on {target.slug} is unhealthy: {why}; {next_step}.",
        )
        if refusal is None:
            rollback = rollback_unhealthy(deployment)
            next_step = f"automatic rollback #{rollback.pk} to {rollback.short_sha} is queued"
        append_last(deployment, f"Unhealthy: {why}. {next_step[:1].upper()}{next_step[1:]}.")
    said = f"{why[:1].upper()}{why[1:]}; {next_step}."
    followups.on_unhealthy(deployment, said)
    return True


def _why_not_rolled_back(deployment: Deployment, target: Target) -> str | None:
    """Why an unhealthy deployment queues no automatic rollback, or None when it does."""
    if not target.auto_rollback:
        return f"auto_rollback is off for {target.name}"
    if deployment.kind in (Kind.ROLLBACK, Kind.RELEASE_ROLLBACK) or deployment.note.startswith(
        AUTO_NOTE.split("#", 1)[0]
    ):
        return "it is itself a rollback, and a rollback is never rolled back automatically"
    if not deployment.previous_sha or deployment.previous_sha == deployment.sha:
        return f"nothing different was live on {target.name} before it"
    lock = active_lock(target)
    if lock is not None:
        return f"{target.name} is locked by {lock.by} ({lock.reason}), and whoever holds it decides"
    later = (
        Deployment.objects.filter(
            target_id=target.pk, pk__gt=deployment.pk, status__in=(Status.QUEUED, Status.RUNNING, Status.SUCCEEDED)
        )
        .order_by("id")
        .first()
    )
    if later is not None:
        return f"it is no longer the live deployment: #{later.pk} followed it ({later.status})"
    if target.live_sha != deployment.sha:
        return "it is no longer the live deployment"
    return None


def rollback_unhealthy(deployment: Deployment) -> Deployment:
    """Queue the rollback of an unhealthy deployment to the sha live before it, as `system`.

    Straight to the queue, past the request gates (lock, CI, approval, windows): it restores what
    was live, and `_why_not_rolled_back` already refused a locked target. The CI gate is read
    again when a deployment starts, so a commit that is not green (it went out with an override,
    or its statuses changed since) carries its override, audited as `deployment.ci_override`.
    Windows and freezes still hold it at start unless the target's `rollbacks_during_freeze`.
    """
    target = deployment.target
    problem = ci.gate_problem(target, deployment.previous_sha)
    return services.deployment_queue(
        actor=Actor.system(),
        target=target,
        sha=deployment.previous_sha,
        ref=deployment.previous_sha,
        note=AUTO_NOTE.format(pk=deployment.pk),
        kind=Kind.ROLLBACK,
        ci_override=f"automatic rollback to what was live before #{deployment.pk} ({problem})" if problem else "",
    )
