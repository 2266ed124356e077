"""Reads for the dashboard and live pages: each target's live commit, last and running deployment.

`state_version` is what the pages poll: a short fingerprint that changes when a deployment is
queued, starts, prints a line or ends, or a target is locked, so a page fetches its fresh
markup only when something a person would see has changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from statistics import median

from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from deployments.models import Deployment, Kind, LogLine, Status
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
    may_deploy: bool = False  # set by the page, which knows the viewer

    @property
    def roll_back_to(self) -> str:
        """The commit live before the live one, when the live one was a plain deploy over it."""
        if self.live is None or self.live.kind != Kind.DEPLOY:
            return ""
        return self.live.previous_sha


def _usual_durations(target_ids: list[int]) -> dict[int, float]:
    """The median of each target's last few successful durations, in one query."""
    rank = Window(RowNumber(), partition_by=[F("target_id")], order_by=F("id").desc())
    recent = (
        Deployment.objects.filter(
            target_id__in=target_ids, status=Status.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False
        )
        .annotate(rank=rank)
        .filter(rank__lte=_DURATION_SAMPLE)
        .values_list("target_id", "started_at", "finished_at")
    )
    durations: dict[int, list[float]] = {}
    for target_id, started, finished in recent:
        durations.setdefault(target_id, []).append((finished - started).total_seconds())
    return {target_id: median(found) for target_id, found in durations.items()}


def app_summaries(apps: list[App]) -> list[tuple[App, list[TargetSummary]]]:
    """Each app with its targets' summaries, in the same few queries for one app or hundreds."""
    now = timezone.now()
    mine = Deployment.objects.filter(target_id=OuterRef("pk")).order_by("-id").values("id")
    targets = list(
        Target.objects.filter(app__in=apps)
        .select_related("lock")
        .annotate(  # one index probe each per target, not a join over history
            last_id=Subquery(mine[:1]),
            running_id=Subquery(mine.filter(status=Status.RUNNING)[:1]),
            live_id=Subquery(mine.filter(status=Status.SUCCEEDED, sha=OuterRef("live_sha"))[:1]),
        )
        .order_by("position", "id")
    )
    wanted = {t.last_id for t in targets} | {t.running_id for t in targets} | {t.live_id for t in targets}
    last_line = LogLine.objects.filter(deployment_id=OuterRef("pk")).order_by("-n").values("text")[:1]
    deployments = Deployment.objects.in_bulk([pk for pk in wanted if pk])
    running_ids = [t.running_id for t in targets if t.running_id]
    lines = dict(
        Deployment.objects.filter(pk__in=running_ids).annotate(line=Subquery(last_line)).values_list("pk", "line")
    )
    queued = dict(
        Deployment.objects.filter(target__in=targets, status=Status.QUEUED)
        .order_by()
        .values("target_id")
        .annotate(n=Count("id"))
        .values_list("target_id", "n")
    )
    usual = _usual_durations([t.id for t in targets if t.running_id])
    by_id = {app.pk: app for app in apps}
    commits = mirror.cached_commits([(by_id[t.app_id], t.live_sha) for t in targets if t.live_sha])
    summaries: dict[int, list[TargetSummary]] = {app.pk: [] for app in apps}
    for target in targets:
        target.app = by_id[target.app_id]
        running = deployments.get(target.running_id)
        progress = None
        if running is not None:
            elapsed = (now - running.started_at).total_seconds() if running.started_at else 0.0
            line = ansi.plain(lines.get(running.pk) or "")
            progress = Progress(deployment=running, elapsed=elapsed, expected=usual.get(target.id), last_line=line)
        summaries[target.app_id].append(
            TargetSummary(
                target=target,
                live=deployments.get(target.live_id),
                live_commit=commits.get((target.app_id, target.live_sha)),
                last=deployments.get(target.last_id),
                lock=active_lock(target),
                running=progress,
                queued=queued.get(target.id, 0),
            )
        )
    return [(app, summaries[app.pk]) for app in apps]


def state_version(apps: list[App], *, with_log_lines: bool = True, with_heads: bool = False) -> str:
    """A fingerprint of what the dashboard and app pages show about these apps' targets.

    The dashboard shows a running deployment's last line, so its fingerprint changes with every
    line (`with_log_lines`); the app page does not, and re-rendering it every poll would take the
    keyboard focus away. `with_heads`: the branches' tips too, so an open app page shows a
    fetched commit (and how far behind each target now is) without a reload.
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
    # With its health: the dashboard marks a live commit whose check failed.
    last_status = {
        pk: (status, health)
        for pk, status, health in Deployment.objects.filter(id__in=last_ids).values_list("id", "status", "health")
    }
    now = timezone.now()
    locks = list(
        Lock.objects.filter(Q(until__isnull=True) | Q(until__gt=now), target_id__in=ids)
        .order_by("target_id")
        .values_list("target_id", "reason", "by")
    )
    heads = []
    if with_heads:
        heads = [sorted(mirror.heads(app).items()) for app, fetched in zip(apps, ready, strict=True) if fetched]
    seen = repr((targets, active, sorted(lines.items()), sorted(last_status.items()), locks, ready, heads))
    return hashlib.sha256(seen.encode()).hexdigest()[:16]
