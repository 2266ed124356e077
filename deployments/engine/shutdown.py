"""How a qcluster process stops without losing a deployment, and where the reaper runs.

django-q2 stops a cluster like this: SIGTERM (or SIGINT) reaches the main `qcluster` process,
which tells its sentinel to stop; the sentinel stops fetching tasks, gives each worker a STOP
pill and waits, without a limit, for the workers to finish the task in hand. The workers never
hear of it, and a worker that gets SIGTERM itself (systemd signals every process of a service)
dies on the spot. A push may run for 15 minutes, so Bartender's `qcluster` command (django-q2's,
same options) adds three things, all set up in the main process before the cluster forks:

- A stop time shared with every process the cluster forks (shared memory inherited through
  fork). A pushing worker sees it within a second, lets the push go on for DEPLOY_STOP_GRACE
  seconds, then ends git and fails the deployment ("worker stopped"). A stopping worker claims
  nothing new: the deployment stays queued and its task goes back to the broker.
- While a deployment runs in a worker, SIGTERM to that worker means the same (instead of
  instant death); the worker ends itself once the deployment is recorded.
- The reaper on a timer in the main process, every DEPLOY_REAP_EVERY seconds. django-q2's
  scheduler wakes only about every 30 s and sits in the sentinel, which would make the period
  impossible to shrink for tests and stretch recovery after a crash.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db import connections

log = logging.getLogger("bartender.worker")

# Wall-clock time the cluster was asked to stop (0: not asked); set up by `prepare`.
_cluster_stop: Any = None
# Wall-clock time this very process got SIGTERM while running a deployment (0: it did not).
_signalled_at = 0.0


def prepare() -> None:
    """In the main qcluster process, before the cluster starts: make the shared stop time."""
    global _cluster_stop
    _cluster_stop = multiprocessing.get_context("fork").RawValue("d", 0.0)


def request_stop() -> None:
    """Tell every process of this cluster to stop. Safe in a signal handler: one store."""
    if _cluster_stop is not None and not _cluster_stop.value:
        _cluster_stop.value = time.time()


def stop_requested_at() -> float | None:
    """When this worker was asked to stop (wall-clock seconds), or None."""
    times = [t for t in (_signalled_at, _cluster_stop.value if _cluster_stop is not None else 0.0) if t]
    return min(times) if times else None


def _on_sigterm(signum: int, frame: Any) -> None:
    global _signalled_at
    _signalled_at = _signalled_at or time.time()


@contextlib.contextmanager
def sigterm_deferred() -> Iterator[None]:
    """While a deployment runs in a cluster worker, SIGTERM asks it to stop instead of killing it.

    Once the body is done the process dies of the deferred SIGTERM: its sentinel got the same
    signal and is gone, so nobody would ever hand this worker another task.
    """
    if _cluster_stop is None or threading.current_thread() is not threading.main_thread():
        yield  # not a qcluster worker (tests, a shell): leave signals alone
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if _signalled_at:
            log.info("worker %s stopping after SIGTERM", os.getpid())
            connections.close_all()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
