"""Two-person approval against a real qcluster: nothing runs until approved; an unapproved one expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import Deployment
from portal.audit.models import AuditEvent
from tests.gitutil import remote_head
from tests.helpers import DEPLOYS, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def finished(deployment_id: int):
    return Deployment.objects.filter(pk=deployment_id, status__in=["succeeded", "failed", "cancelled"]).first()


def test_a_real_cluster_runs_a_deployment_only_once_another_deployer_approves_it(
    approval_target, api, repo, remote, start_cluster
):
    start_cluster()
    answer = api("deployer").post(DEPLOYS, {"ref": "main"})
    assert answer.status_code == 202 and answer.json()["status"] == "pending_approval"
    time.sleep(3)  # a worker that wrongly picked it up would have pushed by now
    assert Deployment.objects.get(pk=answer.json()["id"]).status == "pending_approval"
    assert remote_head(remote) == ""

    approved = api("reviewer").post(f"/api/deployments/{answer.json()['id']}/approve")

    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    done = wait_for(lambda: finished(answer.json()["id"]), timeout=90, what="the approved deployment to finish")
    assert done.status == "succeeded", done.reason
    assert remote_head(remote) == repo.shas[-1]
    actions = list(AuditEvent.objects.filter(deployment=done.pk).order_by("id").values_list("action", flat=True))
    assert actions == ["deployment.requested", "deployment.approved", "deployment.started", "deployment.succeeded"]


def test_the_clusters_reaper_cancels_a_deployment_nobody_approved_in_time(
    approval_target, api, remote, start_cluster, clock
):
    clock.set(START)
    start_cluster(DEPLOY_REAP_EVERY="1")
    answer = api("deployer").post(DEPLOYS, {"ref": "main"})
    assert answer.status_code == 202

    clock.set(START + timedelta(minutes=31))  # the target's approval_minutes is 30

    done = wait_for(lambda: finished(answer.json()["id"]), timeout=60, what="the reaper to expire the approval")
    assert (done.status, done.reason) == ("cancelled", "approval expired")
    assert AuditEvent.objects.filter(action="deployment.cancelled", actor="system", deployment=done.pk).exists()
    assert remote_head(remote) == ""
