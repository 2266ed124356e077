"""Locking a target: nothing starts on it until it is unlocked (or the lock's `until` passes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import queue
from deployments.delivery import notify
from deployments.models import Deployment, Status
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest, Conflict
from projects import access
from projects.models import Lock, Role, Target

# How long a lock taken on the target page lasts: (form value, words); "" means until unlocked.
DURATIONS: list[tuple[str, str]] = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("7d", "1 week"),
    ("", "No expiry: until someone unlocks it"),
]
_SPANS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1), "7d": timedelta(days=7)}


def until_after(duration: str) -> datetime | None:
    """When a lock of `duration` (one of DURATIONS) taken now ends; None for no expiry."""
    if not duration:
        return None
    if duration not in _SPANS:
        raise BadRequest(f"duration: choose one of {', '.join(words for _, words in DURATIONS)}.")
    return timezone.now() + _SPANS[duration]


def lock_target(*, actor: Actor, target: Target, reason: str, until: datetime | None = None) -> Lock:
    access.require(actor, target.app, Role.DEPLOYER, target=target, action="lock")
    reason = reason.strip()
    if not reason:
        raise BadRequest("reason: say why the target is locked.")
    if until is not None and timezone.is_naive(until):
        until = timezone.make_aware(until, UTC)  # a time without an offset is read as UTC
    if until is not None and until <= timezone.now():
        raise BadRequest("until: the lock must end in the future.")
    Lock.objects.filter(target=target, until__lte=timezone.now()).delete()
    try:
        with transaction.atomic():
            lock = Lock.objects.create(target=target, reason=reason[:500], by=actor.name, until=until)
            audit.record(actor=actor, action="target.locked", target=target, detail=f"Locked: {reason}")
            transaction.on_commit(lambda: notify.target_locked(lock))
    except IntegrityError:
        raise Conflict(f"{target.name} is already locked.") from None
    return lock


def unlock_target(*, actor: Actor, target: Target) -> None:
    access.require(actor, target.app, Role.DEPLOYER, target=target, action="unlock")
    with transaction.atomic():
        if not Lock.objects.filter(target=target).delete()[0]:
            raise Conflict(f"{target.name} is not locked.")
        audit.record(actor=actor, action="target.unlocked", target=target, detail="Unlocked.")
        first = target.deployments.filter(status=Status.QUEUED).order_by("id").first()
        if first is not None:
            transaction.on_commit(lambda: queue.run_deployment(first.pk))


def lock_after_start(deployment: Deployment) -> Lock | None:
    """Take the lock a deployment asked for ("lock the target afterwards"), as it starts.

    Called by the claim, inside its transaction: the deployment is already running, so the lock
    holds only what is queued behind it. A lock someone took meanwhile stands as it is.
    """
    reason = deployment.lock_after.strip()
    if not reason:
        return None
    target = deployment.target
    actor = Actor(user=deployment.requested_by, source="worker")
    Lock.objects.filter(target=target, until__lte=timezone.now()).delete()
    try:
        with transaction.atomic():
            lock = Lock.objects.create(target=target, reason=reason[:500], by=deployment.requested_by_name)
            audit.record(
                actor=actor,
                action="target.locked",
                target=target,
                detail=f"Locked as #{deployment.pk} started, as its requester asked: {reason}",
            )
            transaction.on_commit(lambda: notify.target_locked(lock))
    except IntegrityError:
        return None
    return lock
