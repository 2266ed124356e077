"""Two-person approval against a real qcluster: nothing runs until approved; an unapproved one expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import Deployment
from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Access, Role, Target
from tests.gitutil import remote_head
from tests.helpers import DEPLOYS, Api, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def approval_target(app, users) -> Target:
    """Staging needs a second person within 30 minutes; `reviewer`, another deployer, may give it."""
    Target.objects.filter(slug="staging").update(require_approval=True, approval_minutes=30)
    users["reviewer"] = type(users["deployer"]).objects.create_user("reviewer", password="pw-reviewer-Long1")
    Access.objects.create(app=app, user=users["reviewer"], role=Role.DEPLOYER)
    return Target.objects.get(slug="staging")


@pytest.fixture
def as_user(users):
    return lambda name: Api(ApiToken.issue(user=users[name], name="test")[1])


def finished(deployment_id: int):
    return Deployment.objects.filter(pk=deployment_id, status__in=["succeeded", "failed", "cancelled"]).first()


def test_a_real_cluster_runs_a_deployment_only_once_another_deployer_approves_it(
    approval_target, as_user, repo, remote, start_cluster
):
    start_cluster()
    answer = as_user("deployer").post(DEPLOYS, {"ref": "main"})
    assert answer.status_code == 202 and answer.json()["status"] == "pending_approval"
    time.sleep(3)  # a worker that wrongly picked it up would have pushed by now
    assert Deployment.objects.get(pk=answer.json()["id"]).status == "pending_approval"
    assert remote_head(remote) == ""

    approved = as_user("reviewer").post(f"/api/deployments/{answer.json()['id']}/approve")

    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    done = wait_for(lambda: finished(answer.json()["id"]), timeout=90, what="the approved deployment to finish")
    assert done.status == "succeeded", done.reason
    assert remote_head(remote) == repo.shas[-1]
    actions = list(AuditEvent.objects.filter(deployment=done.pk).order_by("id").values_list("action", flat=True))
    assert actions == ["deployment.requested", "deployment.approved", "deployment.started", "deployment.succeeded"]


def test_the_clusters_reaper_cancels_a_deployment_nobody_approved_in_time(
    approval_target, as_user, remote, start_cluster, clock
):
    clock.set(START)
    start_cluster(DEPLOY_REAP_EVERY="1")
    answer = as_user("deployer").post(DEPLOYS, {"ref": "main"})
    assert answer.status_code == 202

    clock.set(START + timedelta(minutes=31))  # the target's approval_minutes is 30

    done = wait_for(lambda: finished(answer.json()["id"]), timeout=60, what="the reaper to expire the approval")
    assert (done.status, done.reason) == ("cancelled", "approval expired")
    assert AuditEvent.objects.filter(action="deployment.cancelled", actor="system", deployment=done.pk).exists()
    assert remote_head(remote) == ""
