"""django-q2 tasks: each loads its row by id and calls one service. Enqueue them with deployments/queue.py."""

from deployments import approval, queue
from deployments.delivery import autodeploy, github_api, notify
from deployments.engine import reaper, run, shutdown
from deployments.heroku import releases
from deployments.models import Deployment
from projects import mirror
from projects.git import GitError
from projects.models import App


def run_deployment(deployment_id: int) -> int | None:
    with shutdown.sigterm_deferred():
        return run.run(deployment_id)


def reap() -> dict[str, int]:
    return reaper.reap()


def every_minute() -> int:
    """The minute schedule: due notification retries, and a fetch of every auto-deploying app."""
    notify.deliver_due()
    # A positive filter: a negated one over the to-many relation skipped every app with any target
    # that does not auto-deploy.
    apps = App.objects.filter(targets__auto_deploy_branch__gt="").distinct().values_list("pk", flat=True)
    for app_id in apps:
        queue.refresh_app(app_id, 30)
    return len(apps)


def refresh_app(app_id: int, max_age: float = 0) -> list[str]:
    """Fetch an app's mirror (a push webhook: at once) and let auto-deploy look at the heads."""
    app = App.objects.filter(pk=app_id).first()
    if app is None:
        return []
    try:
        mirror.sync(app, max_age=max_age)
    except GitError:
        return ["the mirror could not be fetched"]
    return [f"{o.target}: {o.action} {o.why}".strip() for o in autodeploy.check_app(app)]


def check_auto_deploy(app_id: int) -> list[str]:
    """After a CI status: a waiting head may have turned green."""
    app = App.objects.filter(pk=app_id).first()
    if app is None:
        return []
    return [f"{o.target}: {o.action} {o.why}".strip() for o in autodeploy.check_app(app)]


def deliver(delivery_id: int) -> str | None:
    return notify.deliver(delivery_id)


def email_failure(deployment_id: int) -> bool:
    deployment = Deployment.objects.select_related("app", "target", "requested_by").filter(pk=deployment_id).first()
    return deployment is not None and notify.email_failure(deployment)


def notify_approval(deployment_id: int, event: str) -> int:
    """An approval event of a deployment (requested, or skipped by an app admin) to the app's webhooks."""
    deployment = Deployment.objects.select_related("app", "target").filter(pk=deployment_id).first()
    if deployment is None:
        return 0
    return len(notify.deployment_event(deployment, event, said=approval.notice(deployment, event)))


def record_heroku_release(deployment_id: int) -> str:
    deployment = Deployment.objects.select_related("app", "target").filter(pk=deployment_id).first()
    return releases.record_release(deployment) if deployment is not None else ""


def report_to_github(deployment_id: int, attempt: int = 1) -> str:
    deployment = Deployment.objects.select_related("app", "target").filter(pk=deployment_id).first()
    return github_api.report(deployment, attempt=attempt) if deployment is not None else ""
