"""The heartbeat of a running deployment: how the reaper tells a live worker from a lost one."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from deployments.models import Deployment, Status
from portal import outage

log = logging.getLogger("bartender.runner")


class Heartbeat:
    """Writes the deployment's heartbeat from a thread for the whole run, fetch included.

    A long fetch must not look like a dead worker. The beats stop after TASK_TIMEOUT, when
    django-q2 would have killed the task anyway, so a hung worker is still reaped.
    """

    def __init__(self, deployment_id: int) -> None:
        self.deployment_id = deployment_id
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{deployment_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def rows(self) -> QuerySet[Deployment]:
        """The row to beat for, while it is in the state that needs beats (a health check beats
        for its succeeded deployment instead: deployments/engine/health.py)."""
        return Deployment.objects.filter(pk=self.deployment_id, status=Status.RUNNING)

    def _beat(self) -> None:
        until = time.monotonic() + settings.TASK_TIMEOUT
        try:
            while not self.done.wait(settings.DEPLOY_HEARTBEAT) and time.monotonic() < until:
                try:
                    self.rows().update(heartbeat_at=timezone.now())
                except Exception:  # a busy or restarting database: the next beat tries again
                    log.warning("heartbeat of deployment %s failed", self.deployment_id, exc_info=True)
                    outage.reconnect()  # a dead connection stays dead until closed
        finally:
            connection.close()  # this thread's own connection
