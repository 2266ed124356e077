"""Health checks in real `qcluster` processes: a check never holds the target's queue, and a worker
killed while checking leaves its deployment succeeded and unhealthy ("check interrupted").

The clusters run with the engine's timings shrunk to seconds and loopback allowed for outgoing
HTTP; every wait is a bounded poll.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.cd_helpers import Receiver
from tests.gitutil import remote_head
from tests.helpers import log_text, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

FAST = {
    "DEPLOY_HEARTBEAT": "1",
    "DEPLOY_STALE_AFTER": "5",  # a little slack for heartbeats on a busy machine
    "DEPLOY_REAP_EVERY": "1",
    "DEPLOY_STOP_GRACE": "2",
    "Q_WORKERS": "1",
    "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
}


@pytest.fixture(autouse=True)
def loopback_allowed(settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def failing() -> Iterator[Receiver]:
    with Receiver(answer=lambda: 500) as endpoint:
        yield endpoint


def request(api, ref: str) -> int:
    response = api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": ref})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def row(pk: int) -> Deployment:
    return Deployment.objects.get(pk=pk)


def succeeded(pk: int) -> Deployment:
    done = wait_for(
        lambda: Deployment.objects.filter(pk=pk, status__in=["succeeded", "failed", "cancelled"]).first(),
        timeout=120,  # a cluster starting on a busy machine takes a while
        what=f"deployment {pk} to finish",
    )
    assert done.status == "succeeded", done.reason
    return done


def checking(pk: int) -> Deployment:
    return wait_for(
        lambda: Deployment.objects.filter(pk=pk, health="checking").first(), timeout=120, what="the health check"
    )


def set_health(api, **fields) -> None:
    response = api("app_admin").call("patch", "/api/apps/shop/targets/staging", fields)
    assert response.status_code == 200, response.content


def test_a_real_cluster_rolls_an_unhealthy_deployment_back_once_and_checks_the_rollback(
    app, api, repo, remote, start_cluster
):
    good, bad = repo.shas[-2], repo.shas[-1]
    with Receiver(answer=lambda: 500 if remote_head(remote) == bad else 200) as server:
        start_cluster(**FAST)
        succeeded(request(api, good))
        set_health(api, health_url=server.url, health_timeout=5, auto_rollback=True)

        broken = request(api, bad)

        rollback = wait_for(
            lambda: Deployment.objects.filter(pk__gt=broken, health__in=["healthy", "unhealthy"]).first(),
            timeout=120,
            what="the automatic rollback to run and be checked",
        )
    assert (row(broken).status, row(broken).health) == ("succeeded", "unhealthy")
    assert (rollback.requested_by_name, rollback.kind, rollback.sha) == ("system", "rollback", good)
    assert (rollback.status, rollback.health) == ("succeeded", "healthy")
    assert remote_head(remote) == good
    assert Deployment.objects.count() == 3


def test_a_worker_killed_while_checking_leaves_the_deployment_succeeded_and_unhealthy_check_interrupted(
    app, api, repo, remote, start_cluster, failing
):
    start_cluster(**FAST)
    succeeded(request(api, repo.shas[-2]))
    set_health(api, health_url=failing.url, health_timeout=600, auto_rollback=True)
    pk = request(api, repo.shas[-1])
    pid = int(checking(pk).worker.rpartition(":")[2])
    wait_for(lambda: failing.hits >= 1, what="the first probe")

    os.kill(pid, signal.SIGKILL)

    done = wait_for(lambda: Deployment.objects.filter(pk=pk, health="unhealthy").first(), timeout=60, what="the reaper")
    assert done.status == "succeeded"
    assert "check interrupted" in log_text(pk)
    assert remote_head(remote) == repo.shas[-1]
    [event] = AuditEvent.objects.filter(action="deployment.unhealthy", deployment=pk)
    assert "check interrupted" in event.detail
    assert Deployment.objects.count() == 2  # an interrupted check rolls nothing back


def test_a_health_check_does_not_hold_the_targets_queue_and_a_stopping_worker_ends_it_after_the_grace(
    app, api, repo, start_cluster, failing
):
    cluster = start_cluster(**{**FAST, "Q_WORKERS": "2"})
    set_health(api, health_url=failing.url, health_timeout=600)
    first = request(api, repo.shas[-2])
    checking(first)

    second = request(api, repo.shas[-1])

    succeeded(second)
    assert row(first).status == "succeeded"
    assert row(first).health == "checking"  # still checking, yet the next deployment went out
    assert Target.objects.get(slug="staging").live_sha == repo.shas[-1]

    cluster.send_signal(signal.SIGTERM)

    assert cluster.wait(timeout=30) == 0
    for pk in (first, second):
        assert (row(pk).status, row(pk).health) == ("succeeded", "unhealthy")
        assert "check interrupted (the worker was stopped)" in log_text(pk)
