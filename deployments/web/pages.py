"""What the deployment page shows, shared by the page itself and the tail endpoint it polls.

The tail runs once a second per viewer, so it gets `facts_context` alone: what the database
holds (the row, its target, the lock, the queue). What needs git (the commit's message, what
changed) is read once, by the full page render in `deployment_context`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q
from django.http import HttpRequest
from django.utils.safestring import SafeString

from deployments.models import Deployment, Kind, Status
from deployments.web import ansi
from portal.health import live_workers
from projects import mirror
from projects.access import Grant
from projects.git import GitError
from projects.locks import active_lock
from projects.mirror import Commit
from projects.models import Lock, Target

CHANGES_SHOWN = 50
ICONS = {Status.SUCCEEDED: "succeeded", Status.FAILED: "failed", Status.CANCELLED: "failed"}


# What git and a remote print when they refuse: `!` (a Heroku build's or git's rejection),
# `error:` and `fatal:` (git's own), each also behind `remote:` (a hook's output).
_ERROR_LINE = re.compile(r"^\s*(?:remote:\s*)?(?:!|error:|fatal:)", re.IGNORECASE)
ERROR_LINES_QUOTED = 5


@dataclass(frozen=True)
class Line:
    n: int
    html: SafeString
    error: bool = False


@dataclass(frozen=True)
class ErrorLine:
    n: int
    text: str


def is_error_line(text: str) -> bool:
    return bool(_ERROR_LINE.match(ansi.plain(text)))


def log_lines(deployment: Deployment, *, after: int = 0, limit: int = 5000) -> list[Line]:
    rows = deployment.lines.filter(n__gt=after).order_by("n").values_list("n", "text")[:limit]
    return [Line(n=n, html=ansi.to_html(text), error=is_error_line(text)) for n, text in rows]


def error_lines(deployment: Deployment, *, limit: int = ERROR_LINES_QUOTED) -> list[ErrorLine]:
    """The lines of a failed deployment's log that say why the remote refused it, first first."""
    if deployment.status != Status.FAILED:
        return []
    maybe = (
        deployment.lines.filter(Q(text__contains="!") | Q(text__icontains="error:") | Q(text__icontains="fatal:"))
        .order_by("n")
        .values_list("n", "text")[:500]
    )
    found = [ErrorLine(n=n, text=ansi.plain(text).strip()) for n, text in maybe if is_error_line(text)]
    return found[:limit]


def changes(deployment: Deployment) -> list[Commit]:
    """What this deployment changed on its target: commits that went out, or came back off."""
    app, before, after = deployment.app, before_sha(deployment), deployment.sha
    if not before or before == after or not mirror.exists(app):
        return []
    try:
        if deployment.kind == Kind.ROLLBACK:
            return mirror.commits_between(app, after, before, limit=CHANGES_SHOWN)
        return mirror.commits_between(app, before, after, limit=CHANGES_SHOWN)
    except GitError:
        return []


def before_sha(deployment: Deployment) -> str:
    """What the deployment replaces: settled when it started, else what is live now (a forecast)."""
    if deployment.started_at or deployment.status not in (Status.QUEUED, Status.PENDING_APPROVAL):
        return deployment.previous_sha
    return deployment.target.live_sha


def _count(deployment: Deployment, changed: list[Commit]) -> int:
    """How many commits changed in all: the list holds only the newest CHANGES_SHOWN."""
    if len(changed) < CHANGES_SHOWN:
        return len(changed)
    before, after = before_sha(deployment), deployment.sha
    older, newer = (after, before) if deployment.kind == Kind.ROLLBACK else (before, after)
    try:
        return mirror.count_between(deployment.app, older, newer)
    except GitError:
        return len(changed)


def changes_heading(deployment: Deployment) -> str:
    """Whether the changes went out, are going out, or never reached the target.

    From the row alone (its kind and status), so the tail can send it when the status changes.
    """
    name = deployment.target.name
    back = deployment.kind == Kind.ROLLBACK
    if deployment.status == Status.SUCCEEDED:
        return f"What this rollback took off {name}" if back else f"What went out to {name}"
    if deployment.status in (Status.QUEUED, Status.RUNNING):
        return f"What this rollback is taking off {name}" if back else f"What is going out to {name}"
    if deployment.status == Status.PENDING_APPROVAL:
        return f"What this rollback would take off {name}" if back else f"What would go out to {name}"
    tried = "take off" if back else "send"
    return f"Nothing changed on {name}; this deployment tried to {tried}:"


@dataclass(frozen=True)
class Waiting:
    """Why a queued deployment has not started."""

    lock: Lock | None
    ahead: list[Deployment]
    no_worker: bool


def waiting(deployment: Deployment) -> Waiting | None:
    if deployment.status != Status.QUEUED:
        return None
    ahead = list(
        Deployment.objects.filter(
            target_id=deployment.target_id, status__in=[Status.QUEUED, Status.RUNNING], id__lt=deployment.pk
        )
        .only("id", "status")
        .order_by("id")[:5]
    )
    return Waiting(lock=active_lock(deployment.target), ahead=ahead, no_worker=live_workers() == 0)


def redeploy_action(deployment: Deployment, grant: Grant, *, refused: bool = False) -> str:
    """How the page offers this commit again: a direct redeploy, a confirmation, or nothing.

    Nothing for a deployment that never ran (there is nothing to do "again") or one the remote
    refused (`refused`: it would refuse it the same way; the page says to pick another commit).
    A protected target always goes through the confirmation.
    """
    target = deployment.target
    if not deployment.is_finished or deployment.started_at is None or refused or not grant.may_deploy(target):
        return ""
    if deployment.sha == target.live_sha and not target.protected:
        return "redeploy"
    return "confirm"


def facts_context(deployment: Deployment, grant: Grant) -> dict:
    """The facts, the title and the changes' heading, from the database alone: no git here.

    `commit` stays unknown: the page keeps the commit's row as it first rendered it (marked
    `data-keep`), since a deployment's commit never changes.
    """
    refusal = error_lines(deployment)
    return {
        "deployment": deployment,
        "app": deployment.app,
        "target": deployment.target,
        "commit": None,
        "changes_heading": changes_heading(deployment),
        "waiting": waiting(deployment),
        "error_lines": refusal,
        "may_cancel": not deployment.is_finished and grant.may_deploy(deployment.target),
        "redeploy": redeploy_action(deployment, grant, refused=bool(refusal)),
        "favicon": ICONS.get(deployment.status, "running"),
    }


def deployment_context(request: HttpRequest, deployment: Deployment, grant: Grant) -> dict:
    """The whole page: the facts, plus what needs git (the commit's message, what changed)."""
    app = deployment.app
    changed = changes(deployment)
    return {
        **facts_context(deployment, grant),
        "commit": mirror.commit(app, deployment.sha) if mirror.exists(app) else None,
        "changed": changed,
        "changed_count": _count(deployment, changed),
    }


@dataclass(frozen=True)
class HistoryRow:
    """One deployment of a target's history, with its commit and whether to offer going back to it."""

    deployment: Deployment
    commit: Commit | None
    roll_back_here: bool


def history_rows(target: Target, history: list[Deployment], *, may_deploy: bool) -> list[HistoryRow]:
    """The history with commit messages (from the subject cache: one git call on a miss) and
    "Roll back to here" on each earlier success of another commit than the live one."""
    app = target.app
    commits = mirror.cached_commits([(app, d.sha) for d in history]) if history and mirror.exists(app) else {}
    return [
        HistoryRow(
            deployment=d,
            commit=commits.get((app.pk, d.sha)),
            roll_back_here=may_deploy and d.status == Status.SUCCEEDED and d.sha != target.live_sha,
        )
        for d in history
    ]
