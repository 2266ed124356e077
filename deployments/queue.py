"""Enqueueing the worker's tasks (deployments/tasks.py): one typed helper per task, nothing else.

The tasks run the engine, and the engine enqueues tasks (a finished deployment starts the next
one of its target), so importing deployments.tasks here would close an import cycle. Each
helper therefore names its task by dotted path, in this module only; tests/test_queue.py proves
every path resolves to a task that takes these arguments.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from portal import outage

log = logging.getLogger("bartender.queue")

TASKS = "deployments.tasks"


def run_deployment(deployment_id: int) -> None:
    """Run the target's oldest queued deployment (whichever worker claims it).

    The row is the truth, the task only a nudge: when the broker cannot take it (Redis down),
    the deployment stays queued and the reaper enqueues it again, so the caller goes on.
    """
    try:
        async_task(f"{TASKS}.run_deployment", deployment_id, task_name=f"deploy-{deployment_id}")
    except outage.OUTAGE_ERRORS as error:
        log.warning("deployment %s: the broker did not take its task (%s); the reaper will enqueue it again",
                    deployment_id, error)  # fmt: skip


def deliver(delivery_id: int, *, timeout: int) -> None:
    async_task(f"{TASKS}.deliver", delivery_id, task_name=f"deliver-{delivery_id}", timeout=timeout)


def email_failure(deployment_id: int) -> None:
    async_task(f"{TASKS}.email_failure", deployment_id, task_name=f"email-{deployment_id}")


def notify_approval(deployment_id: int, event: str) -> None:
    """Tell the app's webhooks about a deployment's approval (requested, or skipped by an admin)."""
    async_task(f"{TASKS}.notify_approval", deployment_id, event, task_name=f"approval-{deployment_id}")


def record_heroku_release(deployment_id: int) -> None:
    async_task(f"{TASKS}.record_heroku_release", deployment_id, task_name=f"release-{deployment_id}")


def refresh_app(app_id: int, max_age: float = 0) -> None:
    """Fetch the app's mirror (older than `max_age` seconds) and let auto-deploy look at it."""
    async_task(f"{TASKS}.refresh_app", app_id, max_age, task_name=f"refresh-{app_id}")


def check_auto_deploy(app_id: int) -> None:
    async_task(f"{TASKS}.check_auto_deploy", app_id, task_name=f"check_auto_deploy-{app_id}")


def report_to_github_on_commit(deployment) -> None:
    """Once the transaction commits, bring GitHub up to date with the deployment, when its app
    reports to GitHub. Robust: the change is made by then, so a broker that cannot take the task
    must not turn the answer to it into a 500."""
    if deployment.app.github_token_encrypted:
        transaction.on_commit(lambda: report_to_github(deployment.pk), robust=True)


def report_to_github(deployment_id: int, attempt: int = 1, *, after: float = 0) -> None:
    """Bring GitHub's record of the deployment up to date; `after` seconds from now for a retry
    (a one-off schedule: it outlives the worker, and the cluster's scheduler starts it)."""
    if after:
        schedule(
            f"{TASKS}.report_to_github", deployment_id, attempt, schedule_type=Schedule.ONCE,
            next_run=timezone.now() + timedelta(seconds=after),
        )  # fmt: skip
    else:
        async_task(f"{TASKS}.report_to_github", deployment_id, attempt, task_name=f"github-{deployment_id}")
