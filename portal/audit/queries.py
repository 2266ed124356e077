"""Reading the audit trail: the filters shared by /audit/, its CSV export and GET /api/audit."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from portal.audit.models import AuditEvent
from portal.errors import BadRequest

ACTIONS = (
    "deployment.requested",
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.cancelled",
    "deployment.ci_override",
    "target.locked",
    "target.unlocked",
    "app.created",
    "app.changed",
    "app.deleted",
    "target.created",
    "target.changed",
    "target.deleted",
    "access.granted",
    "access.changed",
    "access.revoked",
    "token.created",
    "token.revoked",
    "user.created",
    "auth.login",
    "auth.logout",
    "auth.login_failed",
    "auth.lockout",
    "auth.password_changed",
    "denied",
    "ci.status_posted",
    "secrets.rotated",
)
CSV_COLUMNS = ("at", "actor", "action", "source", "ip", "app", "target", "deployment", "detail")


@dataclass(frozen=True)
class Filters:
    app: str = ""
    target: str = ""
    user: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        """From query parameters; `since` and `until` are dates (until inclusive) or ISO datetimes."""
        return cls(
            app=query.get("app", "").strip(),
            target=query.get("target", "").strip(),
            user=query.get("user", "").strip(),
            action=query.get("action", "").strip(),
            since=_moment(query.get("since", ""), "since", end_of_day=False),
            until=_moment(query.get("until", ""), "until", end_of_day=True),
        )


def _moment(raw: str, name: str, *, end_of_day: bool) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = parse_date(raw)  # first: a bare date also parses as a datetime at midnight
        moment = None if day else parse_datetime(raw)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise BadRequest(f"{name}: give a date (YYYY-MM-DD) or an ISO 8601 time.")
    if day is not None:
        start = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        return timezone.make_aware(start, UTC)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def events(*, apps: list[str] | None, filters: Filters) -> QuerySet[AuditEvent]:
    """Newest first; `apps` is the caller's scope from access.audit_scope (None: every event)."""
    found = AuditEvent.objects.all()
    if apps is not None:
        found = found.filter(app__in=apps)
    if filters.app:
        found = found.filter(app=filters.app)
    if filters.target:
        found = found.filter(target=filters.target)
    if filters.user:
        found = found.filter(actor=filters.user)
    if filters.action:
        found = found.filter(action=filters.action)
    if filters.since:
        found = found.filter(at__gte=filters.since)
    if filters.until:
        found = found.filter(at__lt=filters.until)
    return found.order_by("-id")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    # A spreadsheet runs a cell that starts like a formula; user-typed text (notes, refs) must not.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(rows: Iterable[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in rows:
        yield writer.writerow([_cell(getattr(event, column)) for column in CSV_COLUMNS])
