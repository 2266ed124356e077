"""The reaper: fails deployments whose worker stopped heart-beating, restarts forgotten queues."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone

from deployments.engine.claim import start_next
from deployments.engine.finish import finish
from deployments.models import Deployment, Status
from projects.locks import active_lock
from projects.models import Target


def reap() -> dict[str, int]:
    """Fail running deployments whose worker stopped heart-beating; re-enqueue lost ones.

    Every worker cluster runs this every DEPLOY_REAP_EVERY seconds (deployments/engine/shutdown.py); the
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
