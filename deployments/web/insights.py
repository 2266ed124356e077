"""The four DORA keys per app or target, week by week, and the small SVG bar charts that show them.

- Deployment frequency: successful deployments per week.
- Lead time for changes: from the deployed commit's date to the end of its deployment (stored
  on the deployment when it finishes, deployments/lead_time.py).
- Change failure rate: failed deployments and rollbacks over all finished attempts.
- Time to restore: from the first failure of a run of failures to the next success there.

The charts are geometry computed here and drawn by a template: no script, no external service.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median

from django.core.cache import cache
from django.db import connection
from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from deployments import lead_time
from deployments.models import Deployment, Kind, Status
from projects import mirror
from projects.models import App, Target

WEEKS = 12


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


def compute(
    app: App, target: Target | None = None, *, weeks: int = WEEKS, now: datetime | None = None, fill: bool = True
) -> Insights:
    """The window's figures in a fixed number of queries, whatever the number of deployments.

    A week that has ended never changes (a deployment finishes now, not in the past), so its
    sums are kept in the shared cache once made: a view reads the ended weeks from there and
    makes one indexed pass over the current week's rows. A cold view makes the same pass over
    the whole window: the week of each row worked out in SQL, lead times from their stored
    column, and for each failure the success that followed it on its target (one index seek).
    """
    now = now or timezone.now()
    first_monday = _monday(now) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first_monday, datetime.min.time(), tzinfo=UTC)
    starts = [since + timedelta(weeks=n) for n in range(weeks)]
    lead_known = mirror.exists(app)
    generation = lead_time.generation(app_id=app.pk)
    keys = [f"insights:{app.pk}:{target.pk if target else 0}:{start:%Y%m%d}:{generation}" for start in starts[:-1]]
    ended = cache.get_many(keys)
    if len(ended) == len(keys):
        by_week, missing = _weeks(app, target, starts=starts[-1:])
        by_week = [ended[key] for key in keys] + by_week
    else:
        by_week, missing = _weeks(app, target, starts=starts)
    # Rows from before lead times were stored at the finish: fill them (bounded), count again.
    if missing and lead_known and fill and lead_time.fill_missing(app=app, since=since):
        return compute(app, target, weeks=weeks, now=now, fill=False)
    if len(ended) < len(keys):
        cache.set_many(dict(zip(keys, by_week, strict=False)), timeout=(weeks + 1) * 7 * 24 * 3600)
    deploys = sum(w.deploys for w in by_week)
    attempts = sum(w.attempts for w in by_week)
    all_leads = [h for w in by_week for h in w.lead_hours]
    restores = [h for w in by_week for h in w.restore_hours]
    insights = Insights(
        weeks=by_week,
        deploys=deploys,
        per_week=deploys / weeks,
        lead_hours=median(all_leads) if all_leads else None,
        failure_rate=(sum(w.failures + w.rollbacks for w in by_week) / attempts) if attempts else None,
        restore_hours=median(restores) if restores else None,
        lead_time_known=lead_known or bool(all_leads),
    )
    insights.charts = charts(insights)
    return insights


def _weeks(app: App, target: Target | None, *, starts: list[datetime]) -> tuple[list[Week], int]:
    """The weeks starting at `starts` summed from one pass over their rows, and how many
    successful deploys among them have no lead time yet."""
    by_week = [Week(start=start.date()) for start in starts]
    rows = _window_rows(app, target, since=starts[0], starts=starts)
    runs: dict[int, tuple[datetime, datetime]] = {}  # the success that ended a run: (its time, the run's start)
    missing_leads = 0
    for n, status, kind, lead, fixed_by, fixed_at, failed_at in rows:
        if status == Status.FAILED:
            if fixed_by is not None:
                fixed_at, failed_at = _moment(fixed_at), _moment(failed_at)
                runs[fixed_by] = (fixed_at, min(runs.get(fixed_by, (fixed_at, failed_at))[1], failed_at))
            if n >= 0:
                by_week[n].failures += 1
            continue
        if n < 0:
            continue
        week = by_week[n]
        week.deploys += 1
        if kind == Kind.ROLLBACK:
            week.rollbacks += 1
        elif kind == Kind.DEPLOY:
            if lead is None:
                missing_leads += 1
            else:
                week.lead_hours.append(lead / 3600)
    for fixed_at, began in runs.values():
        n = bisect.bisect_right(starts, fixed_at) - 1
        if 0 <= n < len(starts) and fixed_at < starts[-1] + timedelta(weeks=1):
            by_week[n].restore_hours.append((fixed_at - began).total_seconds() / 3600)
    return by_week, missing_leads


def _window_rows(app: App, target: Target | None, *, since: datetime, starts: list[datetime]) -> list[tuple]:
    """(week, status, kind, lead seconds, and for a failure: the next success's id and time,
    and its own time) for every finished deployment of the window. Week -1: a failure of the
    30 days before it, which still counts toward a restore inside it."""
    finished = Deployment.objects.filter(
        app=app, status__in=[Status.SUCCEEDED, Status.FAILED], finished_at__isnull=False
    ).order_by()
    if target is not None:
        finished = finished.filter(target=target)
    # The week a row falls in (0 = the oldest shown), -1 outside the window: one CASE, no Python per row.
    week_of = Case(
        When(finished_at__gte=starts[-1] + timedelta(weeks=1), then=Value(-1)),
        *[When(finished_at__gte=start, then=Value(n)) for n, start in reversed(list(enumerate(starts)))],
        default=Value(-1),
        output_field=IntegerField(),
    )
    # A target runs its deployments one at a time, in id order: the next success is a seek.
    after = finished.filter(target=OuterRef("target_id"), status=Status.SUCCEEDED, id__gt=OuterRef("id")).order_by("id")
    failed = Q(status=Status.FAILED)
    rows = (
        finished.filter(Q(finished_at__gte=since) | failed & Q(finished_at__gte=since - timedelta(days=30)))
        .annotate(
            week=week_of,
            fixed_by=Case(When(failed, then=Subquery(after.values("id")[:1]))),
            fixed_at=Case(When(failed, then=Subquery(after.values("finished_at")[:1]))),
            failed_at=Case(When(failed, then=F("finished_at"))),
        )
        .values_list("week", "status", "kind", "lead_time_seconds", "fixed_by", "fixed_at", "failed_at")
    )
    return _plain_rows(rows)


def _plain_rows(rows: QuerySet) -> list[tuple]:
    """A values_list query's rows as the database driver gives them: Django's per-value
    converters cost more than the query itself at a hundred thousand rows."""
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _moment(value: datetime | str) -> datetime:
    """A timestamp from the driver: PostgreSQL's are aware datetimes, SQLite's are UTC text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
