"""Faults inflicted on real `qcluster` processes: kill -9 mid-push, SIGTERM, a lost task.

The clusters run with the engine's timings shrunk to seconds (heartbeat, staleness, reaper
period, stop grace); every wait is a bounded poll.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django_q.models import OrmQ

from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.engine_util import Gate, alive, children
from tests.gitutil import remote_head
from tests.helpers import cluster_env, log_text, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

FAST = {
    "DEPLOY_HEARTBEAT": "1",
    "DEPLOY_STALE_AFTER": "3",
    "DEPLOY_REAP_EVERY": "1",
    "DEPLOY_STOP_GRACE": "2",
    "Q_WORKERS": "1",
}


@pytest.fixture
def gate(app, tmp_path: Path) -> Gate:
    gate = Gate(tmp_path)
    Target.objects.filter(app=app, slug="staging").update(remote_url=str(gate.remote))
    return gate


def request(api, ref: str = "main") -> int:
    response = api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": ref})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def finished(pk: int, timeout: float = 60) -> Deployment:
    return wait_for(
        lambda: Deployment.objects.filter(pk=pk, status__in=["succeeded", "failed", "cancelled"]).first(),
        timeout=timeout,
        what=f"deployment {pk} to finish",
    )


def worker_pid(pk: int) -> int:
    worker = wait_for(
        lambda: Deployment.objects.filter(pk=pk).values_list("worker", flat=True).first(), what="the claim"
    )
    return int(worker.rpartition(":")[2])


def exited(proc: subprocess.Popen, timeout: float = 30) -> int:
    return proc.wait(timeout=timeout)


def test_a_worker_killed_mid_push_takes_git_with_it_and_the_reaper_fails_the_deployment(
    app, api, repo, gate, start_cluster
):
    start_cluster(**FAST)
    first = request(api)
    wait_for(gate.started, what="the push to reach the remote's hook")
    pid = worker_pid(first)
    pushes = [child for child, cmdline in children(pid) if " push " in f" {cmdline} "]
    assert pushes, children(pid)

    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: not any(alive(push) for push in pushes), timeout=10, what="git push to die with its worker")
    lost = finished(first, timeout=30)
    assert lost.status == "failed"
    assert lost.reason == "worker lost"
    assert "worker lost" in log_text(first)
    assert AuditEvent.objects.filter(deployment=first, action="deployment.failed").count() == 1

    # The remote may finish the lost push (its client is gone); the next push reads its lease anew.
    gate.release()
    wait_for(gate.ended, what="the remote to finish the lost push")
    newer = repo.commit("After the crash", {"after.txt": "x"})
    again = finished(request(api, newer))
    assert again.status == "succeeded", again.reason
    assert remote_head(gate.remote) == newer
    assert Deployment.objects.get(pk=first).status == "failed"  # never re-run by itself


def test_a_queued_deployment_whose_task_the_broker_lost_is_enqueued_again(app, api, repo, remote, start_cluster):
    pk = request(api)
    assert OrmQ.objects.exists()
    OrmQ.objects.all().delete()  # what the Redis broker does to a killed worker's tasks

    start_cluster(**FAST)

    done = finished(pk)
    assert done.status == "succeeded", done.reason
    assert remote_head(remote) == repo.shas[-1]
    assert AuditEvent.objects.filter(deployment=pk, action="deployment.started").count() == 1


def test_on_sigterm_a_worker_lets_its_push_finish_within_the_grace(app, api, repo, gate, start_cluster):
    cluster = start_cluster(**{**FAST, "DEPLOY_STOP_GRACE": "60"})
    pk = request(api)
    wait_for(gate.started, what="the push to reach the remote's hook")

    cluster.send_signal(signal.SIGTERM)
    wait_for(lambda: b"stopping" in cluster.log_path.read_bytes(), what="the cluster to start stopping")
    assert cluster.poll() is None
    assert Deployment.objects.get(pk=pk).status == "running"
    gate.release()

    assert exited(cluster) == 0
    done = Deployment.objects.get(pk=pk)
    assert done.status == "succeeded", done.reason
    assert remote_head(gate.remote) == repo.shas[-1]


@pytest.mark.parametrize("signalled", ["the cluster", "every process of the cluster"])
def test_on_sigterm_a_push_past_the_grace_is_ended_failed_and_never_run_again(
    app, api, repo, gate, start_cluster, signalled
):
    cluster = start_cluster(**FAST)
    pk = request(api)
    wait_for(gate.started, what="the push to reach the remote's hook")
    pid, hook = worker_pid(pk), gate.started()[0].pid

    if signalled == "the cluster":
        cluster.send_signal(signal.SIGTERM)  # what `serve`, Docker and most supervisors do
    else:
        os.killpg(cluster.pid, signal.SIGTERM)  # systemd's default: every process of the service

    stopped = finished(pk, timeout=30)
    assert stopped.status == "failed"
    assert stopped.reason.startswith("worker stopped")
    assert "worker stopped" in log_text(pk)
    wait_for(lambda: not alive(hook), timeout=10, what="git's process group to be ended")
    wait_for(lambda: not alive(pid), timeout=30, what="the worker to exit")
    exited(cluster)
    assert remote_head(gate.remote) == ""

    gate.release()
    start_cluster("restarted", **FAST)
    newer = repo.commit("After the restart", {"after.txt": "x"})
    again = finished(request(api, newer))
    assert again.status == "succeeded", again.reason
    assert Deployment.objects.get(pk=pk).status == "failed"
    assert AuditEvent.objects.filter(deployment=pk, action="deployment.started").count() == 1
    assert remote_head(gate.remote) == newer


def test_the_default_timings_end_a_lost_deployment_within_three_minutes(tmp_path: Path):
    """Stale after DEPLOY_STALE_AFTER from the last beat, noticed within one reaper period."""
    env = {key: value for key, value in cluster_env(tmp_path).items() if not key.startswith("DEPLOY_")}
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEPLOY_HEARTBEAT, s.DEPLOY_STALE_AFTER, s.DEPLOY_REAP_EVERY, s.DEPLOY_STOP_GRACE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    heartbeat, stale, reap_every, grace = (int(value) for value in out.split())
    assert heartbeat < stale
    assert stale + reap_every < 180
    assert grace == 30
