"""Locking a target: nothing starts on it until it is unlocked (or the lock's `until` passes)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import queue
from deployments.delivery import notify
from deployments.models import Status
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest, Conflict
from projects import access
from projects.models import Lock, Role, Target


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
