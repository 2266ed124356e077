"""django-q2's `qcluster`, plus a graceful stop for pushes and the reaper on a timer.

Same command and options as django-q2's (this app comes first in INSTALLED_APPS, so this one
is found first). See deployments/engine/shutdown.py for why and how.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from django.conf import settings
from django.db import connection
from django_q.cluster import Cluster
from django_q.management.commands import qcluster

from deployments.engine import shutdown as worker

log = logging.getLogger("bartender.worker")
_LOOP_SECONDS = 0.2
_LOOK_SECONDS = 1.0
_RETRY_START_SECONDS = 2.0


class Command(qcluster.Command):
    def handle(self, *args, **options) -> None:
        settings.SECRET_KEY  # noqa: B018 - django-q2 signs tasks with it: fail before starting
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        worker.prepare()
        # The workers fork from this process: load the task code (and GitPython's check of the
        # git binary) once here, so the first deployment a fresh worker runs is not slower.
        import deployments.tasks  # noqa: F401

        cluster = Cluster()
        stop = False

        # The handler only records the request: the main loop below may be inside a database
        # transaction when the signal arrives, and stopping blocks until the workers are done.
        def on_signal(signum: int, frame) -> None:
            nonlocal stop
            stop = True
            worker.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        # A restarted cluster starts the clock on what a crashed one left at once (before forking,
        # so the connection it used is closed and no child inherits it).
        _reap_gone_here()
        connection.close()
        # A cluster (re)started while Redis is down would exit at once (django-q2's sentinel pings
        # the broker first): wait for the broker instead, settling dead workers' deployments meanwhile.
        while True:
            try:
                cluster.start()
                break
            except RuntimeError:
                if stop:
                    return
                log.warning("the cluster could not start (is the broker reachable?); trying again")
                _reap_gone_here()
                connection.close()
                time.sleep(_RETRY_START_SECONDS)
        if options.get("run_once"):
            cluster.stop()
            return
        next_reap = time.monotonic()  # a (re)started cluster recovers what a dead one left at once
        next_look = next_reap
        while not stop and cluster.sentinel.is_alive():
            if time.monotonic() >= next_reap:
                _reap()
                next_reap = time.monotonic() + settings.DEPLOY_REAP_EVERY
            if time.monotonic() >= next_look:
                # Worker processes of this machine that died (this cluster's, or a crashed one's
                # before a restart): found within a second, not after DEPLOY_STALE_AFTER.
                _reap_gone_here()
                next_look = time.monotonic() + _LOOK_SECONDS
            time.sleep(_LOOP_SECONDS)
        cluster.stop()


def _reap_gone_here() -> None:
    from deployments.engine import lost

    try:
        found = lost.reap_gone_here()
        if found:
            log.info("reaper: %s deployment(s) of dead worker processes settled", found)
    except Exception:  # the database may be restarting: the next look tries again
        log.warning("looking for dead worker processes failed", exc_info=True)
        connection.close()


def _reap() -> None:
    # Imported here, after the cluster forked: nothing of the runner needs to be in the workers
    # before they import it themselves.
    from deployments.engine import reaper

    try:
        found = reaper.reap()
        if any(found.values()):
            log.info("reaper: %s", found)
    except Exception:  # the next round tries again; the loop must outlive a locked database
        log.exception("the reaper failed")
    finally:
        connection.close()
