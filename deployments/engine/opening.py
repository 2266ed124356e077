"""When deploying opens again (a deploy window begins, a freeze ends): start what waited for it.

A claim that finds a target closed leaves its queue as a lock does and marks the target held;
auto-deploy marks a target whose new head waited. Nothing wakes up at the instant deploying
opens, so the reaper calls `start_opened` every round (DEPLOY_REAP_EVERY seconds): held queues
start, and auto-deploy looks again, deploying the newest green head only.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Exists, OuterRef

from deployments import gates, queue, window_holds
from deployments.models import Deployment, Status
from projects import windows
from projects.models import Target


def start_opened() -> dict[str, int]:
    """Start the held queues of targets that may start now; let auto-deploy look again at held
    heads of targets open now (it deploys the newest green one, not each head it missed)."""
    running = Deployment.objects.filter(target_id=OuterRef("target_id"), status=Status.RUNNING)
    waiting = set(
        Deployment.objects.filter(status=Status.QUEUED)
        .exclude(Exists(running))
        .values_list("target_id", flat=True)
        .distinct()
    )
    held = cache.get_many([window_holds.queue_key(pk) for pk in waiting])
    started = 0
    for target in Target.objects.filter(
        pk__in=[pk for pk in waiting if window_holds.queue_key(pk) in held]
    ).select_related("app"):
        first = gates.startable(target)
        if first is not None:
            cache.delete(window_holds.queue_key(target.pk))
            queue.run_deployment(first.pk)
            started += 1
    auto = Target.objects.exclude(auto_deploy_branch="").values_list("pk", flat=True)
    auto_held = cache.get_many([window_holds.auto_key(pk) for pk in auto])
    apps = set()
    for target in Target.objects.filter(
        pk__in=[pk for pk in auto if window_holds.auto_key(pk) in auto_held]
    ).select_related("app"):
        if windows.closed(target) is None:
            cache.delete(window_holds.auto_key(target.pk))
            apps.add(target.app_id)
    for app_id in apps:
        queue.check_auto_deploy(app_id)
    return {"opened": started, "auto_deploy_checked": len(apps)}
