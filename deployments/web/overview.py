"""Reads for the dashboard and live pages: each target's live commit, last and running deployment.

`state_version` is what the pages poll: a short fingerprint that changes when a deployment is
queued, starts, prints a line or ends, or a target is locked, so a page fetches its fresh
markup only when something a person would see has changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from deployments.models import Deployment, LogLine, Status
from deployments.web import ansi
from projects import mirror
from projects.locks import active_lock
from projects.mirror import Commit
from projects.models import App, Lock, Target

_DURATION_SAMPLE = 5


@dataclass
class Progress:
    """A running deployment: how long it has run, the usual duration, its last line."""

    deployment: Deployment
    elapsed: float
    expected: float | None
    last_line: str

    @property
    def percent(self) -> int | None:
        if not self.expected:
            return None
        return min(99, int(100 * self.elapsed / self.expected))


@dataclass
class TargetSummary:
    target: Target
    live: Deployment | None
    live_commit: Commit | None
    last: Deployment | None
    lock: Lock | None
    running: Progress | None
    queued: int


def _usual_duration(target: Target) -> float | None:
    recent = (
        target.deployments.filter(status=Status.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False)
        .order_by("-id")
        .only("started_at", "finished_at")[:_DURATION_SAMPLE]
    )
    durations = [d.duration for d in recent if d.duration is not None]
    return median(durations) if durations else None


def _progress(target: Target, running: Deployment, now: datetime) -> Progress:
    last = running.lines.order_by("-n").values_list("text", flat=True).first() or ""
    elapsed = (now - running.started_at).total_seconds() if running.started_at else 0.0
    return Progress(deployment=running, elapsed=elapsed, expected=_usual_duration(target), last_line=ansi.plain(last))


def target_summary(target: Target, *, now: datetime | None = None) -> TargetSummary:
    now = now or timezone.now()
    deployments = target.deployments.order_by("-id")
    live = None
    if target.live_sha:
        live = deployments.filter(status=Status.SUCCEEDED, sha=target.live_sha).first()
    running = deployments.filter(status=Status.RUNNING).first()
    live_commit = None
    if target.live_sha and mirror.exists(target.app):
        live_commit = mirror.commit(target.app, target.live_sha)
    return TargetSummary(
        target=target,
        live=live,
        live_commit=live_commit,
        last=deployments.first(),
        lock=active_lock(target),
        running=_progress(target, running, now) if running else None,
        queued=deployments.filter(status=Status.QUEUED).count(),
    )


def app_summaries(apps: list[App]) -> list[tuple[App, list[TargetSummary]]]:
    now = timezone.now()
    return [(app, [target_summary(t, now=now) for t in app.targets.select_related("app")]) for app in apps]


def state_version(apps: list[App], *, with_log_lines: bool = True) -> str:
    """A fingerprint of what the dashboard and app pages show about these apps' targets.

    The dashboard shows a running deployment's last line, so its fingerprint changes with every
    line (`with_log_lines`); the app page does not, and re-rendering it every poll would take the
    keyboard focus away.
    """
    newest = Deployment.objects.filter(target_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    targets = list(
        Target.objects.filter(app__in=apps)
        .order_by("id")
        .annotate(last_id=Subquery(newest))  # one index probe per target, not a join over history
        .values_list("id", "live_sha", "last_id")
    )
    ids = [t[0] for t in targets]
    active = list(
        Deployment.objects.filter(target_id__in=ids, status__in=[Status.QUEUED, Status.RUNNING])
        .order_by("id")
        .values_list("id", "status", "sha")
    )
    running_ids = [a[0] for a in active if a[1] == Status.RUNNING]
    lines = {}
    if with_log_lines:
        lines = dict(
            LogLine.objects.filter(deployment_id__in=running_ids)
            .values("deployment_id")
            .annotate(last=Max("n"))
            .values_list("deployment_id", "last")
        )
    ready = [mirror.exists(app) for app in apps]  # an app page waiting for its first clone reloads
    last_ids = [t[2] for t in targets if t[2]]
    last_status = dict(Deployment.objects.filter(id__in=last_ids).values_list("id", "status"))
    now = timezone.now()
    locks = list(
        Lock.objects.filter(Q(until__isnull=True) | Q(until__gt=now), target_id__in=ids)
        .order_by("target_id")
        .values_list("target_id", "reason", "by")
    )
    seen = repr((targets, active, sorted(lines.items()), sorted(last_status.items()), locks, ready))
    return hashlib.sha256(seen.encode()).hexdigest()[:16]
