"""Claiming: which queued deployment of a target runs next, decided by one conditional UPDATE.

Any worker may be handed any deployment id; the claim (queued -> running, only while no other
deployment of the target runs, enforced by a partial unique index too) decides who pushes.
"""

from __future__ import annotations

import logging
import os
import socket

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from deployments import gates, locks, queue, window_holds
from deployments.engine import shutdown
from deployments.models import Deployment, Status
from portal import outage
from projects.locks import active_lock
from projects.models import Target

log = logging.getLogger("bartender.runner")
_PATIENCE = 60


def worker_name() -> str:
    # Computed per claim: django-q2 forks its workers after this module may be imported.
    return f"{settings.WORKER_NAME or socket.gethostname()}:{os.getpid()}"


def claim_next(target_id: int) -> Deployment | None:
    """Conditionally move the target's oldest queued deployment to running."""
    target = Target.objects.filter(pk=target_id).first()
    if target is None or active_lock(target) is not None:
        return None
    # Outside its windows or in a freeze only an overridden deployment or an allowed rollback
    # starts; the rest wait, as for a lock, until the opening sweep (engine/opening.py) starts them.
    first = gates.startable(target)
    if first is None:
        window_holds.hold_queue(target_id)
        return None
    if shutdown.stop_requested_at() is not None:
        # This cluster is shutting down: leave it queued, for another cluster or the next start.
        queue.run_deployment(first.pk)
        return None
    running = Deployment.objects.filter(target_id=OuterRef("target_id"), status=Status.RUNNING)
    # Read in the claiming statement itself: the deployment before may finish (and move live_sha)
    # while this claim waits for the database.
    live = Target.objects.filter(pk=OuterRef("target_id")).values("live_sha")[:1]
    try:
        with transaction.atomic():
            # Taken inside the transaction (SQLite holds the write lock from its start), so a
            # deployment never starts before the one it waited for finished.
            now = timezone.now()
            claimed = (
                Deployment.objects.filter(pk=first.pk, status=Status.QUEUED)
                .exclude(Exists(running))
                .update(
                    status=Status.RUNNING,
                    started_at=now,
                    heartbeat_at=now,
                    worker=worker_name(),
                    previous_sha=Subquery(live),
                )
            )
            if claimed and first.lock_after:
                locks.lock_after_start(first)
    except IntegrityError:  # another worker's claim on this target won the race
        return None
    if not claimed:
        return None
    # Claimed: from here a database restart must not leave it running with nobody pushing.
    outage.retrying(first.refresh_from_db, what=f"reading claimed deployment {first.pk}", for_seconds=_PATIENCE)
    return first


def start_next(target_id: int) -> None:
    """Enqueue the target's oldest queued deployment. An outage of the database or the broker
    is waited out for a while, then left to the reaper, which enqueues forgotten queues again."""
    try:
        first = outage.retrying(
            lambda: Deployment.objects.filter(target_id=target_id, status=Status.QUEUED).order_by("id").first(),
            what=f"the queue of target {target_id}",
            for_seconds=_PATIENCE,
        )
    except outage.OUTAGE_ERRORS:
        log.warning("the next deployment of target %s is left to the reaper: the database is unreachable", target_id)
        return
    if first is not None:
        queue.run_deployment(first.pk)  # a broker outage is logged there, and left to the reaper too
