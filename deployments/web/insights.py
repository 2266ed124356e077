"""The four DORA keys per app or target, week by week, and the small SVG bar charts that show them.

- Deployment frequency: successful deployments per week.
- Lead time for changes: from a commit's author date to the end of the deployment that first
  made it live on that target (commits between the previous live sha and the deployed one).
- Change failure rate: failed deployments and rollbacks over all finished attempts.
- Time to restore: from the first failure of a run of failures to the next success there.

The charts are geometry computed here and drawn by a template: no script, no external service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median

from django.utils import timezone

from deployments.models import Deployment, Kind, Status
from projects import mirror
from projects.git import GitError
from projects.models import App, Target

WEEKS = 12
COMMITS_PER_DEPLOYMENT = 200


@dataclass
class Week:
    start: date
    deploys: int = 0
    failures: int = 0
    rollbacks: int = 0
    lead_hours: list[float] = field(default_factory=list)
    restore_hours: list[float] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.deploys + self.failures

    @property
    def failure_rate(self) -> float | None:
        if not self.attempts:
            return None
        return (self.failures + self.rollbacks) / self.attempts

    @property
    def median_lead_hours(self) -> float | None:
        return median(self.lead_hours) if self.lead_hours else None

    @property
    def median_restore_hours(self) -> float | None:
        return median(self.restore_hours) if self.restore_hours else None


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the week, as "Mar 4"
    text: str  # the value as a person reads it


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    summary: str  # the headline figure over the whole window
    explanation: str
    bars: list[Bar]
    top: str  # the value the top grid line stands for
    width: int = 320
    height: int = 120


@dataclass
class Insights:
    weeks: list[Week]
    deploys: int
    per_week: float
    lead_hours: float | None
    failure_rate: float | None
    restore_hours: float | None
    lead_time_known: bool
    charts: list[Chart] = field(default_factory=list)


def _monday(moment: datetime) -> date:
    day = moment.astimezone(UTC).date() if timezone.is_aware(moment) else moment.date()
    return day - timedelta(days=day.weekday())


def hours_text(hours: float | None) -> str:
    if hours is None:
        return "no data"
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _median_text(hours: float | None) -> str:
    return "no data yet" if hours is None else f"median {hours_text(hours)}"


def percent_text(rate: float | None) -> str:
    return "no data yet" if rate is None else f"{round(rate * 100)} %"


def _lead_hours(app: App, deployment: Deployment) -> list[float]:
    """Hours from each commit this deployment made live to the end of the deployment."""
    try:
        if deployment.previous_sha and deployment.previous_sha != deployment.sha:
            commits = mirror.commits_between(app, deployment.previous_sha, deployment.sha, limit=COMMITS_PER_DEPLOYMENT)
        else:
            found = mirror.commit(app, deployment.sha)
            commits = [found] if found else []
    except GitError:
        return []
    return [max(0.0, (deployment.finished_at - c.date).total_seconds() / 3600) for c in commits]


def compute(app: App, target: Target | None = None, *, weeks: int = WEEKS, now: datetime | None = None) -> Insights:
    now = now or timezone.now()
    first_monday = _monday(now) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first_monday, datetime.min.time(), tzinfo=UTC)
    by_week = {first_monday + timedelta(weeks=n): Week(start=first_monday + timedelta(weeks=n)) for n in range(weeks)}
    finished = Deployment.objects.filter(
        app=app, status__in=[Status.SUCCEEDED, Status.FAILED], finished_at__isnull=False
    ).order_by("finished_at", "id")
    if target is not None:
        finished = finished.filter(target=target)
    # Failures just before the window still count toward a restore inside it.
    rows = list(finished.filter(finished_at__gte=since - timedelta(days=30)).only(
        "id", "target_id", "sha", "previous_sha", "kind", "status", "finished_at"
    ))  # fmt: skip
    lead_known = mirror.exists(app)
    failing_since: dict[int, datetime] = {}
    for deployment in rows:
        week = by_week.get(_monday(deployment.finished_at))
        if deployment.status == Status.FAILED:
            failing_since.setdefault(deployment.target_id, deployment.finished_at)
            if week:
                week.failures += 1
            continue
        began = failing_since.pop(deployment.target_id, None)
        if week is None:
            continue
        week.deploys += 1
        if deployment.kind == Kind.ROLLBACK:
            week.rollbacks += 1
        if began is not None:
            week.restore_hours.append((deployment.finished_at - began).total_seconds() / 3600)
        if lead_known and deployment.kind == Kind.DEPLOY:
            week.lead_hours.extend(_lead_hours(app, deployment))
    ordered = [by_week[key] for key in sorted(by_week)]
    deploys = sum(w.deploys for w in ordered)
    attempts = sum(w.attempts for w in ordered)
    leads = [h for w in ordered for h in w.lead_hours]
    restores = [h for w in ordered for h in w.restore_hours]
    insights = Insights(
        weeks=ordered,
        deploys=deploys,
        per_week=deploys / weeks,
        lead_hours=median(leads) if leads else None,
        failure_rate=(sum(w.failures + w.rollbacks for w in ordered) / attempts) if attempts else None,
        restore_hours=median(restores) if restores else None,
        lead_time_known=lead_known,
    )
    insights.charts = charts(insights)
    return insights


def _chart(slug: str, title: str, summary: str, explanation: str, weeks: list[Week], values, text) -> Chart:
    width, height, bottom = 320, 120, 18
    plot = height - bottom - 4
    numbers = [values(w) for w in weeks]
    top = max([n for n in numbers if n is not None] or [0]) or 1
    slot = width / len(weeks)
    bars = []
    for n, (week, value) in enumerate(zip(weeks, numbers, strict=True)):
        bar_height = 0.0 if value is None else max(1.5, plot * value / top) if value else 0.0
        bars.append(
            Bar(
                x=round(n * slot + slot * 0.15, 1),
                y=round(4 + plot - bar_height, 1),
                width=round(slot * 0.7, 1),
                height=round(bar_height, 1),
                label=week.start.strftime("%b %-d"),
                text="no data" if value is None else text(value),
            )
        )
    return Chart(
        slug=slug, title=title, summary=summary, explanation=explanation, bars=bars, top=text(top),
        width=width, height=height,
    )  # fmt: skip


def charts(insights: Insights) -> list[Chart]:
    weeks = insights.weeks
    return [
        _chart(
            "frequency", "Deployment frequency", f"{insights.per_week:.1f} a week ({insights.deploys} in all)",
            "Successful deployments each week.", weeks, lambda w: w.deploys, lambda v: str(round(v)),
        ),
        _chart(
            "lead-time", "Lead time for changes", _median_text(insights.lead_hours),
            "From a commit to its going live: the median of each week's deployed commits.",
            weeks, lambda w: w.median_lead_hours, hours_text,
        ),
        _chart(
            "failure-rate", "Change failure rate", percent_text(insights.failure_rate),
            "Failed deployments and rollbacks, out of every finished deployment of the week.",
            weeks, lambda w: w.failure_rate, percent_text,
        ),
        _chart(
            "restore", "Time to restore", _median_text(insights.restore_hours),
            "From a failed deployment to the next success on that target.",
            weeks, lambda w: w.median_restore_hours, hours_text,
        ),
    ]  # fmt: skip


def by_target(app: App) -> list[tuple[Target, Insights]]:
    return [(target, compute(app, target)) for target in app.targets.all()]
