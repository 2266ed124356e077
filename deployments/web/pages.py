"""What the deployment page shows, shared by the page itself and the tail endpoint it polls."""

from __future__ import annotations

from dataclasses import dataclass

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
from projects.models import Lock

CHANGES_SHOWN = 50
ICONS = {Status.SUCCEEDED: "succeeded", Status.FAILED: "failed", Status.CANCELLED: "failed"}


@dataclass(frozen=True)
class Line:
    n: int
    html: SafeString


def log_lines(deployment: Deployment, *, after: int = 0, limit: int = 5000) -> list[Line]:
    rows = deployment.lines.filter(n__gt=after).order_by("n").values_list("n", "text")[:limit]
    return [Line(n=n, html=ansi.to_html(text)) for n, text in rows]


def changes(deployment: Deployment) -> tuple[str, list[Commit]]:
    """What this deployment changed on its target: commits that went out, or came back off."""
    app, before, after = deployment.app, deployment.previous_sha, deployment.sha
    if not before or before == after or not mirror.exists(app):
        return "", []
    try:
        if deployment.kind == Kind.ROLLBACK:
            return "back", mirror.commits_between(app, after, before, limit=CHANGES_SHOWN)
        return "out", mirror.commits_between(app, before, after, limit=CHANGES_SHOWN)
    except GitError:
        return "", []


def changes_heading(deployment: Deployment, direction: str) -> str:
    """Whether the changes went out, are going out, or never reached the target."""
    name = deployment.target.name
    back = direction == "back"
    if deployment.status == Status.SUCCEEDED:
        return f"What this rollback took off {name}" if back else f"What went out to {name}"
    if deployment.status in (Status.QUEUED, Status.RUNNING):
        return f"What this rollback is taking off {name}" if back else f"What is going out to {name}"
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


def redeploy_action(deployment: Deployment, grant: Grant) -> str:
    """How the page offers this commit again: a direct redeploy, a confirmation, or nothing."""
    if not deployment.is_finished or not grant.may_deploy(deployment.target):
        return ""
    return "redeploy" if deployment.sha == deployment.target.live_sha else "confirm"


def deployment_context(request: HttpRequest, deployment: Deployment, grant: Grant) -> dict:
    direction, changed = changes(deployment)
    commit = mirror.commit(deployment.app, deployment.sha) if mirror.exists(deployment.app) else None
    return {
        "deployment": deployment,
        "app": deployment.app,
        "target": deployment.target,
        "commit": commit,
        "direction": direction,
        "changed": changed,
        "changes_heading": changes_heading(deployment, direction),
        "waiting": waiting(deployment),
        "may_cancel": not deployment.is_finished and grant.may_deploy(deployment.target),
        "redeploy": redeploy_action(deployment, grant),
        "favicon": ICONS.get(deployment.status, "running"),
    }
