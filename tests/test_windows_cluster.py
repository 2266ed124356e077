"""Against a real qcluster: a queued deployment waits while its target is outside its deploy
windows and starts by itself when the window opens (the clock moved, no waiting for hours)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from deployments import window_holds
from deployments.models import Deployment
from projects import windows
from projects.models import Target
from tests.gitutil import remote_head
from tests.helpers import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

WEEKDAYS_IN_BERLIN = {"kind": "allow", "schedule": "0 9 * * 1-5", "duration": "8h", "timezone": "Europe/Berlin"}


def test_a_queued_deployment_waits_for_the_window_and_starts_when_it_opens(
    app, api, repo, remote, clock, start_cluster
):
    clock.set(datetime(2026, 12, 7, 10, tzinfo=UTC))  # Monday 11:00 in Berlin: open
    response = api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"})
    assert response.status_code == 202
    deployment_id = response.json()["id"]
    staging = Target.objects.get(slug="staging")
    Target.objects.filter(pk=staging.pk).update(windows=windows.clean_windows([WEEKDAYS_IN_BERLIN]))
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))  # before the worker sees it: Saturday, closed

    # The reaper's requeue of stale queues waits 10 minutes here: only the opening sweep can start it.
    start_cluster(DEPLOY_REAP_EVERY="1", DEPLOY_STALE_AFTER="600")

    wait_for(lambda: cache.get(window_holds.queue_key(staging.pk)), timeout=90, what="the claim to hold the queue")
    time.sleep(3)  # several reaper rounds: nothing starts it while closed
    assert Deployment.objects.get(pk=deployment_id).status == "queued"
    assert remote_head(remote) == ""

    clock.set(datetime(2026, 12, 7, 8, 0, 5, tzinfo=UTC))  # Monday 09:00:05 in Berlin: the window opens
    done = wait_for(
        lambda: Deployment.objects.filter(pk=deployment_id, status__in=["succeeded", "failed"]).first(),
        timeout=60, what="the deployment to start when the window opened",
    )  # fmt: skip

    assert done.status == "succeeded", done.reason
    assert done.started_at is not None
    assert remote_head(remote) == repo.shas[-1]
