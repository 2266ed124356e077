"""django-q2 tasks: each loads its row by id and calls one service."""

from deployments import runner, worker
from projects import mirror
from projects.models import App


def run_deployment(deployment_id: int) -> int | None:
    with worker.sigterm_deferred():
        return runner.run(deployment_id)


def reap() -> dict[str, int]:
    return runner.reap()


def sync_mirror(app_id: int) -> None:
    app = App.objects.filter(pk=app_id).first()
    if app is not None:
        mirror.sync(app, max_age=2)
