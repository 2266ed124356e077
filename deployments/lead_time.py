"""Lead time for changes, kept on each successful deployment: seconds from its commit's date
(as the mirror has it) to the deployment's end.

Stored once, when the deployment finishes, so the insights page reads a column instead of asking
git about every deployment of the last twelve weeks. Rows from before the column existed (or
whose commit the mirror could not name then) are filled on the next insights view, a bounded
number at a time, with one cache read and at most one batched `git log`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache

from deployments.models import Deployment, Kind, Status
from projects import mirror
from projects.models import App

log = logging.getLogger("bartender.lead_time")

FILL_AT_ONCE = 2000  # rows missing a lead time filled per insights view


def seconds(*, committed: datetime, finished: datetime) -> int:
    return max(0, round((finished - committed).total_seconds()))


def record(*, deployment: Deployment) -> None:
    """Store the lead time of a deployment that just succeeded. Best effort: a deployment never
    fails over it, and the insights page fills in what is missing here."""
    try:
        row = Deployment.objects.filter(pk=deployment.pk).values("status", "kind", "sha", "finished_at").first()
        if not row or row["status"] != Status.SUCCEEDED or row["kind"] != Kind.DEPLOY or not row["finished_at"]:
            return
        found = mirror.cached_commits([(deployment.app, row["sha"])]).get((deployment.app_id, row["sha"]))
        if found is None:
            return
        Deployment.objects.filter(pk=deployment.pk, lead_time_seconds__isnull=True).update(
            lead_time_seconds=seconds(committed=found.date, finished=row["finished_at"])
        )
    except Exception:
        log.exception("the lead time of deployment %s was not stored", deployment.pk)


def fill_missing(*, app: App, since: datetime) -> int:
    """Lead times for up to FILL_AT_ONCE of the app's successful deploys since `since` that have
    none, newest first; how many were stored."""
    missing = list(
        Deployment.objects.filter(
            app=app, status=Status.SUCCEEDED, kind=Kind.DEPLOY, finished_at__gte=since, lead_time_seconds__isnull=True
        )
        .order_by("-finished_at")
        .values_list("id", "sha", "finished_at")[:FILL_AT_ONCE]
    )
    if not missing:
        return 0
    commits = mirror.cached_commits([(app, sha) for sha in {sha for _, sha, _ in missing}])
    filled = []
    for pk, sha, finished in missing:
        found = commits.get((app.pk, sha))
        if found is not None:
            filled.append(Deployment(pk=pk, lead_time_seconds=seconds(committed=found.date, finished=finished)))
    # Only the column nothing else writes: a plain bulk update cannot undo a concurrent change.
    Deployment.objects.bulk_update(filled, ["lead_time_seconds"], batch_size=500)
    if filled:  # past weeks' sums kept by the insights page now lack these: start afresh
        cache.set(_generation_key(app.pk), generation(app_id=app.pk) + 1, timeout=None)
    return len(filled)


def _generation_key(app_id: int) -> str:
    return f"lead-times:{app_id}"


def generation(*, app_id: int) -> int:
    """Changes whenever lead times of past deployments are filled in (keys cached sums)."""
    return cache.get(_generation_key(app_id), 0)
