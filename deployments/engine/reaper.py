"""The reaper: settles deployments whose worker stopped heart-beating (asking the remote how they
ended, engine/lost.py), restarts forgotten queues."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone

from deployments import approval, gates
from deployments.engine import health, opening
from deployments.engine.claim import start_next
from deployments.engine.lost import settle as settle_lost
from deployments.models import Deployment, Status
from projects.locks import active_lock
from projects.models import Target


def reap() -> dict[str, int]:
    """Fail running deployments whose worker stopped heart-beating; re-enqueue lost ones.

    Every worker cluster runs this every DEPLOY_REAP_EVERY seconds (deployments/engine/shutdown.py); the
    conditional updates make concurrent reapers harmless.
    """
    approval.expire_approvals()  # pending deployments nobody approved in time: cancelled
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DEPLOY_STALE_AFTER)
    lost = 0
    for deployment in Deployment.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale).select_related("target"):
        # Settled as the remote says (engine/lost.py): a push whose worker died may have landed.
        if settle_lost(deployment, cause="no heartbeat"):
            lost += 1
    health.reap_interrupted(stale)  # health checks whose worker was killed: unhealthy, "check interrupted"
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
        # A target closed by its windows or a freeze waits for the opening sweep instead.
        if (
            active_lock(target) is None
            and gates.startable(target) is not None
            and cache.add(f"bartender:requeued:{target.pk}", 1, settings.DEPLOY_STALE_AFTER)
        ):
            start_next(target.pk)
            requeued += 1
    opened = {name: count for name, count in opening.start_opened().items() if count}
    return {"lost": lost, "requeued": requeued, **opened}
