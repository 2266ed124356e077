"""Finishing a deployment: the one place that moves a running deployment to its end state."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from deployments import lead_time
from deployments.delivery import followups
from deployments.log import append_last
from deployments.models import Deployment, Status
from portal import outage
from portal.actor import Actor
from portal.audit import events as audit
from projects.models import Target

# How long a finished push waits for an unreachable database before giving up (the reaper then
# settles it from the remote).
_PATIENCE = 10 * 60


def finish(deployment: Deployment, *, status: str, reason: str, note: str = "") -> bool:
    """Move a running deployment to its end state once; the first writer wins.

    `note` is a last log line written in the same transaction, so whoever sees the end state
    (the deployment page stops polling then) also sees the line that explains it.
    """
    # A database restart must not strand a deployment whose push ended: wait for it to come back.
    done, cancel = outage.retrying(
        lambda: _record(deployment, status=status, reason=reason, note=note),
        what=f"finishing deployment {deployment.pk}",
        for_seconds=_PATIENCE,
    )
    if not done:
        return False
    if cancel and status != Status.CANCELLED:
        # The push ended before the worker read the cancel: the outcome stands, the request is
        # kept in the log (the audit has one event for how the deployment ended).
        who = cancel["cancelled_by"] or "someone"
        append_last(deployment, f"{who} asked to cancel, but the deployment had already {status}.")
    if status == Status.SUCCEEDED:
        lead_time.record(deployment=deployment)  # best effort: never fails a finish
    followups.on_finish(deployment)
    return True


def _record(deployment: Deployment, *, status: str, reason: str, note: str) -> tuple[bool, dict | None]:
    with transaction.atomic():
        done = Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING).update(
            status=status, reason=reason[:500], finished_at=timezone.now()
        )
        if not done:
            return False, None
        if note:
            append_last(deployment, note)
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
    return True, cancel


def _canceller(cancel: dict) -> Actor:
    """The person who asked to cancel, as the actor of the deployment.cancelled event."""
    from django.contrib.auth import get_user_model

    # An unsaved user carries the name: the audit stores names, and the user may be gone by now.
    user = get_user_model()(username=cancel["cancelled_by"])
    return Actor(user=user, source=cancel["cancelled_source"] or "worker", ip=cancel["cancelled_ip"])
