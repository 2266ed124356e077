"""Deployments whose worker is gone: settled from the remote, and found at once on this machine.

A git server finishes a push whose client died, so "the worker was lost" says nothing about the
remote: before recording an outcome the reaper asks the remote (`ls-remote`) whether its push ref
holds the deployment's sha. If it does, the deployment succeeded and the target's live sha moves.

Two ways to find a lost deployment:
- its heartbeat is older than DEPLOY_STALE_AFTER (any machine, any cause: reaper.py);
- its worker names this machine and that process is gone (kill -9, out of memory, a cluster
  restarted after a crash). Every qcluster's main process looks for these about once a second
  and settles them DEPLOY_LOST_GRACE seconds after the death: long enough for the remote to
  finish the lost push (the next push must not overlap it), far shorter than the staleness.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings

from deployments.credentials import CannotRun, api_key
from deployments.engine import push
from deployments.engine.claim import start_next, worker_name
from deployments.engine.finish import finish
from deployments.models import Deployment, Kind, Status
from projects import git
from projects.git import GitError
from projects.validators import url_problem

log = logging.getLogger("bartender.reaper")

# When this process first saw each lost deployment's worker gone (wall-clock seconds).
_seen_gone: dict[int, float] = {}
# A process that started this long after the claim cannot be the one that claimed (its pid was reused).
_START_SLACK = 2.0


def settle(deployment: Deployment, *, cause: str) -> bool:
    """Finish a running deployment whose worker is gone, as the remote says it ended.

    Succeeded when the remote's push ref holds its sha ("confirmed from the remote"), failed
    "worker lost" otherwise. The first writer wins (a live worker or another reaper may finish
    it meanwhile); the target's next deployment is started either way.
    """
    short, target = deployment.sha[:7], deployment.target
    try:
        if deployment.kind == Kind.RELEASE_ROLLBACK:
            # A Heroku API call, not a push: the git ref says nothing about which release runs.
            raise GitError("a release rollback is not a push, so the remote's ref cannot confirm it")
        problem = url_problem(target.push_url)
        if problem:
            raise GitError(f"The remote URL {problem}.")
        creds = git.Credentials(password=api_key(target))
        at = push.remote_sha(target.push_url, target.push_ref, creds)
    except (GitError, CannotRun) as error:
        at, unread = None, str(error)
    if at == deployment.sha:
        done = finish(
            deployment,
            status=Status.SUCCEEDED,
            reason="",
            note=f"Succeeded: the worker was lost ({cause}), but the remote's {target.push_ref} holds {short}: "
            "confirmed from the remote.",
        )
    else:
        where = f"it could not be read: {unread}" if at is None else f"it is at {at[:7] or 'nothing yet'}"
        done = finish(
            deployment,
            status=Status.FAILED,
            reason="worker lost",
            note=f"Failed: worker lost ({cause}); the remote does not hold {short} ({where}).",
        )
    if done:
        log.info("deployment %s settled from the remote after its worker was lost (%s)", deployment.pk, cause)
        start_next(deployment.target_id)
    return done


def reap_gone_here() -> int:
    """Settle the running deployments whose worker process on this machine is gone.

    Runs in a qcluster's main process about once a second; answers how many it settled.
    """
    host = worker_name().rpartition(":")[0]
    now = time.time()
    gone: set[int] = set()
    settled = 0
    running = Deployment.objects.filter(status=Status.RUNNING, worker__startswith=f"{host}:").select_related("target")
    for deployment in running:
        pid = deployment.worker.rpartition(":")[2]
        if not pid.isdigit() or deployment.started_at is None or not _gone(int(pid), deployment.started_at):
            continue
        gone.add(deployment.pk)
        # It died after its last heartbeat and at most one beat later, or before we first looked.
        beat = deployment.heartbeat_at or deployment.started_at
        died_by = min(_seen_gone.setdefault(deployment.pk, now), beat.timestamp() + settings.DEPLOY_HEARTBEAT)
        if now - died_by < settings.DEPLOY_LOST_GRACE:
            continue
        if settle(deployment, cause=f"its process {pid} on {host} is gone"):
            settled += 1
    for pk in set(_seen_gone) - gone:
        del _seen_gone[pk]
    return settled


def _gone(pid: int, claimed_at: datetime) -> bool:
    """Whether the process that claimed at `claimed_at` as `pid` on this machine has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (not Linux): only whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):  # dead, not yet collected by its parent
        return True
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started > claimed_at.timestamp() + _START_SLACK


_boot: list[float] = []


def _boot_time() -> float:
    if not _boot:
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/stat").read_text().splitlines():
                if line.startswith("btime "):
                    _boot.append(float(line.split()[1]))
        if not _boot:
            _boot.append(0.0)
    return _boot[0]
