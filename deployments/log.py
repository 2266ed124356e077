"""A deployment's log: the one place that writes its lines.

The pushing worker appends through DeploymentLog (batched, capped at LOG_MAX_BYTES); everyone
else (the reaper, the finish of a cancel, the Heroku release steps) appends one line with
append_last, numbered after whatever is there.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction

from deployments.models import Deployment, LogLine
from portal import outage

log = logging.getLogger("bartender.runner")

_FLUSH_SECONDS = 0.25


class DeploymentLog:
    """Appends a deployment's output as numbered rows, in small batches, up to a cap.

    git's output counts against LOG_MAX_BYTES; Bartender's own notes (`note`) always go in,
    so a cut log still says how the deployment ended.
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.n = last_line(deployment.pk)
        self.size = deployment.log_bytes
        self.pending: list[str] = []
        self.flushed_at = time.monotonic()
        self.cut = False

    def add(self, lines: list[str]) -> None:
        for line in lines:
            if self.cut:
                break
            self.size += len(line.encode()) + 1
            if self.size > settings.LOG_MAX_BYTES:
                self.cut = True
                line = f"[bartender] The log was cut here at {_size_text(settings.LOG_MAX_BYTES)}; the push went on."
            self.pending.append(line)
        if time.monotonic() - self.flushed_at >= _FLUSH_SECONDS or len(self.pending) >= 500:
            self.flush()

    def note(self, text: str) -> None:
        self.pending.append(f"[bartender] {text}")

    def flush(self, *, wait: float = 0) -> None:
        """Store the pending lines. While the database is unreachable they stay pending (the next
        flush tries again); `wait` seconds: keep trying that long first (the last flush)."""
        self.flushed_at = time.monotonic()
        if not self.pending:
            return
        try:
            outage.retrying(self._store, what=f"the log of deployment {self.deployment.pk}", for_seconds=wait)
        except outage.OUTAGE_ERRORS:
            log.warning("deployment %s: %s log lines kept until the database is back", self.deployment.pk,
                        len(self.pending))  # fmt: skip
            return
        self.pending = []

    def _store(self) -> None:
        try:
            with transaction.atomic():
                self._write()
        except IntegrityError:
            # The reaper wrote a line meanwhile (it gave up on us); number ours after it.
            self.n = last_line(self.deployment.pk)
            with transaction.atomic():
                self._write()

    def _write(self) -> None:
        rows = [LogLine(deployment=self.deployment, n=self.n + i + 1, text=text) for i, text in enumerate(self.pending)]
        LogLine.objects.bulk_create(rows)
        Deployment.objects.filter(pk=self.deployment.pk).update(log_bytes=self.size)
        self.n += len(rows)


def last_line(deployment_id: int) -> int:
    return LogLine.objects.filter(deployment_id=deployment_id).order_by("-n").values_list("n", flat=True).first() or 0


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size} bytes"


def append_last(deployment: Deployment, text: str) -> None:
    """One `[bartender]` line after the last, from anyone but the pushing worker's DeploymentLog."""
    for _ in range(3):  # the worker, if it still lives, may be appending too
        try:
            with transaction.atomic():  # a savepoint: a clash must not spoil a caller's transaction
                LogLine.objects.create(
                    deployment=deployment, n=last_line(deployment.pk) + 1, text=f"[bartender] {text}"
                )
            return
        except IntegrityError:
            continue
