"""What the deployment page shows, shared by the page itself and the tail endpoint it polls."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.safestring import SafeString

from deployments import ansi
from deployments.models import Deployment, Kind, Status
from projects import mirror
from projects.access import Grant
from projects.git import GitError
from projects.mirror import Commit

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
        "may_cancel": not deployment.is_finished and grant.may_deploy(deployment.target),
        "redeploy": redeploy_action(deployment, grant),
        "favicon": ICONS.get(deployment.status, "running"),
    }
