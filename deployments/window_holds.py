"""Marks of what waits for deploying to open (a deploy window, the end of a freeze): a target whose
queue a claim left waiting, and an auto-deploying target whose new head waited. The opening sweep
(engine/opening.py) reads them; they live in the shared cache, seen by every web and worker process.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache

from deployments.models import Deployment, Status

# A mark outlives any window or freeze it waits for; a lost one only delays the start until the
# reaper's requeue of idle queues (or auto-deploy's minute fetch).
HOLD_SECONDS = int(timedelta(days=400).total_seconds())


def queue_key(target_id: int) -> str:
    return f"bartender:window-held:{target_id}"


def auto_key(target_id: int) -> str:
    return f"bartender:window-held-auto:{target_id}"


def hold_queue(target_id: int) -> None:
    """The claim left the target's queue waiting for deploying to open."""
    if Deployment.objects.filter(target_id=target_id, status=Status.QUEUED).exists():
        cache.set(queue_key(target_id), 1, HOLD_SECONDS)


def hold_auto(target_id: int) -> None:
    """Auto-deploy left a new head waiting for deploying to open."""
    cache.set(auto_key(target_id), 1, HOLD_SECONDS)
