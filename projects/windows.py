"""Deploy windows and freezes: whether a target is open for deploying now, and if not, why and
when it opens again (CONTRACT.md "Deploy windows and freezes").

Argo CD's sync-window semantics: while a target has any allow window, deploying is open only
inside one; a deny window wins over an allow; a freeze (of the app, or of every app, optionally
for some target slugs) closes it from `starts_at` up to, not including, `ends_at`. Schedules are
5-field cron expressions read as wall-clock time in the window's zone, so "0 9 * * 1-5" in
Europe/Berlin is 09:00 there in winter and in summer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter
from django.db.models import Q

from portal import clock
from projects.models import Freeze, Target

KINDS = ("allow", "deny")
KEYS = ("kind", "schedule", "duration", "timezone", "reason")
MAX_WINDOWS = 20
MAX_DURATION = timedelta(days=366)
DURATION = re.compile(r"\A(?:(\d{1,5})h)?(?:(\d{1,6})m)?\Z")
# How far ahead "opens at" is looked for, and in how many steps (each step passes one closure).
HORIZON = timedelta(days=400)
MAX_STEPS = 200


@dataclass(frozen=True)
class Window:
    kind: str
    schedule: str
    duration: timedelta
    zone: ZoneInfo
    reason: str

    def _local(self, at: datetime) -> datetime:
        # croniter walks naive wall-clock time: its aware arithmetic misplaces times across a DST change.
        return at.astimezone(self.zone).replace(tzinfo=None)

    def _aware(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def active_start(self, at: datetime) -> datetime | None:
        """The start of the occurrence that holds `at`, if one does (the latest start at or before it
        ends last, all occurrences being equally long)."""
        base = self._local(at).replace(microsecond=0) + timedelta(seconds=1)
        try:
            start = self._aware(croniter(self.schedule, base).get_prev(datetime))
        except CroniterError:
            return None
        return start if start <= at < start + self.duration else None

    def active_until(self, at: datetime) -> datetime | None:
        start = self.active_start(at)
        return None if start is None else start + self.duration

    def next_start(self, at: datetime) -> datetime | None:
        try:
            return self._aware(croniter(self.schedule, self._local(at)).get_next(datetime))
        except CroniterError:
            return None


def parse_duration(text: str) -> timedelta | None:
    """ "90m", "2h", "1h30m" as a timedelta; None when it is not one, or is zero or over a year."""
    match = DURATION.match(text.strip().lower()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        return None
    hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(hours=hours, minutes=minutes)
    return duration if timedelta(0) < duration <= MAX_DURATION else None


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None


def clean_windows(value: object) -> list[dict]:
    """The windows as they are stored; ValueError whose message names the field, e.g.
    `windows[0].schedule: ...`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("windows: must be a list of windows.")
    if len(value) > MAX_WINDOWS:
        raise ValueError(f"windows: at most {MAX_WINDOWS} windows.")
    cleaned = []
    for n, window in enumerate(value):
        where = f"windows[{n}]"
        if not isinstance(window, dict):
            raise ValueError(f'{where}: must be an object like {{"kind": "allow", "schedule": "0 9 * * 1-5", ...}}.')
        unknown = sorted(set(window) - set(KEYS))
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown field; a window has {', '.join(KEYS)}.")
        kind = window.get("kind")
        if kind not in KINDS:
            raise ValueError(f'{where}.kind: must be "allow" or "deny".')
        schedule = window.get("schedule")
        if not isinstance(schedule, str) or len(schedule.split()) != 5 or not croniter.is_valid(schedule):
            raise ValueError(
                f'{where}.schedule: not a 5-field cron expression (minute hour day month weekday), e.g. "0 9 * * 1-5".'
            )
        schedule = " ".join(schedule.split())
        try:
            croniter(schedule, datetime(2000, 1, 1)).get_next(datetime)
        except (CroniterBadDateError, CroniterBadCronError):
            raise ValueError(f"{where}.schedule: {schedule} never fires.") from None
        duration = window.get("duration")
        if parse_duration(duration) is None:
            raise ValueError(f'{where}.duration: a positive duration up to a year such as "90m", "2h" or "1h30m".')
        zone_name = window.get("timezone", "UTC")
        if _zone(zone_name) is None:
            raise ValueError(f'{where}.timezone: not an IANA time zone such as "Europe/Berlin" or "UTC".')
        reason = window.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 200:
            raise ValueError(f"{where}.reason: a text of at most 200 characters.")
        cleaned.append(
            {
                "kind": kind,
                "schedule": schedule,
                "duration": duration.strip().lower(),
                "timezone": zone_name.strip(),
                "reason": reason.strip(),
            }
        )
    return cleaned


def windows_of(target: Target) -> list[Window]:
    """The target's windows; a stored one that no longer parses (a zone dropped from tzdata) is skipped."""
    found = []
    for window in target.windows or []:
        try:
            (clean,) = clean_windows([window])
        except ValueError:
            continue
        found.append(
            Window(
                kind=clean["kind"],
                schedule=clean["schedule"],
                duration=parse_duration(clean["duration"]),
                zone=ZoneInfo(clean["timezone"]),
                reason=clean["reason"],
            )
        )
    return found


def upcoming_freezes(at: datetime, *, app_ids: Iterable[int] | None = None) -> list[Freeze]:
    """Freezes not over at `at` (of these apps and of every app): one query for a whole page."""
    freezes = Freeze.objects.filter(ends_at__gt=at)
    if app_ids is not None:
        freezes = freezes.filter(Q(app__isnull=True) | Q(app_id__in=list(app_ids)))
    return list(freezes.order_by("starts_at", "id"))


def freeze_holds(freeze: Freeze, target: Target) -> bool:
    return (freeze.app_id is None or freeze.app_id == target.app_id) and (
        not freeze.targets or target.slug in freeze.targets
    )


@dataclass(frozen=True)
class Cause:
    what: str  # freeze, deny, outside
    reason: str
    until: datetime | None  # None: no end found
    zone: ZoneInfo | None


def _causes(at: datetime, windows: list[Window], freezes: list[Freeze]) -> list[Cause]:
    causes = [Cause("freeze", f.reason, f.ends_at, None) for f in freezes if f.starts_at <= at < f.ends_at]
    for window in windows:
        if window.kind == "deny":
            until = window.active_until(at)
            if until is not None:
                causes.append(Cause("deny", window.reason, until, window.zone))
    allows = [w for w in windows if w.kind == "allow"]
    if allows and not any(w.active_start(at) for w in allows):
        starts = sorted(
            ((start, w.zone) for w in allows if (start := w.next_start(at)) is not None), key=lambda pair: pair[0]
        )
        causes.append(Cause("outside", "", *(starts[0] if starts else (None, allows[0].zone))))
    return causes


@dataclass(frozen=True)
class Closed:
    """Why deploying to a target is closed at `at`, and when it opens (None: not within a year)."""

    target_name: str
    cause: Cause
    opens_at: datetime | None
    zone: ZoneInfo
    at: datetime

    @property
    def frozen(self) -> bool:
        return self.cause.what == "freeze"

    def when(self, moment: datetime) -> str:
        return format_when(moment, self.zone, self.at)

    @property
    def opens(self) -> str:
        return self.when(self.opens_at) if self.opens_at else "not within a year"

    def _then(self) -> str:
        """ ", deploying opens X" when that is later than the cause's own end (another closure follows)."""
        if self.opens_at is None:
            return "; deploying does not open within a year"
        if self.cause.until is not None and self.opens_at > self.cause.until:
            return f"; deploying opens {self.opens}"
        return ""

    @property
    def short(self) -> str:
        """The page's words: "Frozen until Mon 09:00 CET (08:00 UTC): release freeze"."""
        cause = self.cause
        until = self.when(cause.until) if cause.until else "further notice"
        if cause.what == "freeze":
            return f"Frozen until {until}: {cause.reason}{self._then()}"
        if cause.what == "deny":
            return f"Deploys denied until {until}: {cause.reason or 'a deny window'}{self._then()}"
        return f"Outside deploy windows: opens {self.opens}"

    @property
    def sentence(self) -> str:
        """The 409's words, naming the target."""
        if self.cause.what == "outside":
            return f"Outside the deploy windows of {self.target_name}: opens {self.opens}."
        return f"{self.target_name}: {self.short}."


def format_when(moment: datetime, zone: ZoneInfo, at: datetime) -> str:
    """ "Mon 09:00 CET (08:00 UTC)"; with the date when it is a week or more away."""
    local, utc = moment.astimezone(zone), moment.astimezone(UTC)
    day = "%a %H:%M" if moment - at < timedelta(days=6) else "%a %d %b %Y %H:%M"
    text = f"{local:{day}} {local.tzname()}"
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", "GMT", "Z"):
        return text
    utc_format = "%H:%M" if local.date() == utc.date() else day
    return f"{text} ({utc:{utc_format}} UTC)"


def closed(target: Target, *, at: datetime | None = None, freezes: list[Freeze] | None = None) -> Closed | None:
    """None when deploying to `target` is open at `at` (default: portal.clock.now()); else why.

    `freezes` (from `upcoming_freezes`) spares a query per target on pages that show many.
    """
    at = at or clock.now()
    windows = windows_of(target)
    if freezes is None:
        freezes = upcoming_freezes(at, app_ids=[target.app_id])
    freezes = [f for f in freezes if freeze_holds(f, target)]
    if not windows and not any(f.starts_at <= at for f in freezes):
        return None
    causes = _causes(at, windows, freezes)
    if not causes:
        return None
    moment: datetime | None = at
    for _ in range(MAX_STEPS):
        ends = [c.until for c in _causes(moment, windows, freezes)]
        if not ends:
            break
        if None in ends or max(ends) - at > HORIZON:
            moment = None
            break
        moment = max(ends)  # open needs every current cause gone; each holds until its end
    else:
        moment = None
    first = causes[0]
    zone = first.zone or (windows[0].zone if windows else ZoneInfo("UTC"))
    return Closed(target_name=target.name, cause=first, opens_at=moment, zone=zone, at=at)
