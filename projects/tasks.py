"""The worker's tasks of this layer: the first clone of a newly registered app's mirror."""

from __future__ import annotations

from django_q.tasks import async_task

from projects import mirror
from projects.models import App


def sync_mirror(app_id: int) -> None:
    app = App.objects.filter(pk=app_id).first()
    if app is not None:
        mirror.sync(app, max_age=2)


def enqueue_mirror_sync(app_id: int) -> None:
    async_task(sync_mirror, app_id, task_name=f"mirror-{app_id}")
