"""What follows a deployment's request, start and end: notifications, email, Heroku release, GitHub.

Everything here is enqueued as its own task or is a quick insert, and nothing here may fail or
slow the deployment: errors are logged and dropped.
"""

from __future__ import annotations

import logging

from deployments import queue
from deployments.delivery import github_api, notify
from deployments.models import Deployment, Kind, Status

log = logging.getLogger("bartender.followups")


def on_start(deployment: Deployment) -> None:
    try:
        notify.deployment_event(deployment, "deployment.started")
    except Exception:
        log.exception("start follow-ups of deployment %s failed", deployment.pk)
    try:
        _report_to_github(deployment)
    except Exception:
        log.exception("GitHub report of deployment %s could not be queued", deployment.pk)


def on_finish(deployment: Deployment) -> None:
    """After a deployment reached its end state (committed)."""
    try:
        deployment = Deployment.objects.select_related("app", "target").get(pk=deployment.pk)
        if deployment.status in (Status.SUCCEEDED, Status.FAILED):
            notify.deployment_event(deployment, f"deployment.{deployment.status}")
        if deployment.status == Status.FAILED and deployment.requested_by_id:
            queue.email_failure(deployment.pk)
        if (
            deployment.status == Status.SUCCEEDED
            and deployment.target.heroku_app
            and deployment.kind != Kind.RELEASE_ROLLBACK
        ):
            queue.record_heroku_release(deployment.pk)
        _report_to_github(deployment)
    except Exception:
        log.exception("finish follow-ups of deployment %s failed", deployment.pk)


def on_unhealthy(deployment: Deployment, said: str) -> None:
    """After a health check called a deployment unhealthy (committed); `said`: why, what follows."""
    try:
        deployment = Deployment.objects.select_related("app", "target").get(pk=deployment.pk)
        notify.deployment_event(deployment, "deployment.unhealthy", said=said)
    except Exception:
        log.exception("unhealthy follow-ups of deployment %s failed", deployment.pk)


def _report_to_github(deployment: Deployment) -> None:
    if github_api.reportable(deployment):
        queue.report_to_github(deployment.pk)
