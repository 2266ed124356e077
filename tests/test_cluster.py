"""A real qcluster process picks up deployments requested through the API."""

import pytest
from django.core.cache import cache

from deployments.models import Deployment
from tests.gitutil import remote_head
from tests.helpers import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_cluster_runs_a_requested_deployment(app, api, repo, remote, start_cluster):
    start_cluster()
    response = api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"})
    assert response.status_code == 202

    deployment_id = response.json()["id"]
    done = wait_for(
        lambda: Deployment.objects.filter(pk=deployment_id, status__in=["succeeded", "failed"]).first(),
        timeout=90, what="the worker to finish the deployment",
    )  # fmt: skip

    assert done.status == "succeeded", done.reason
    assert remote_head(remote) == repo.shas[-1]
    assert done.worker  # the claim recorded which worker process pushed


def test_healthz_counts_a_live_cluster_and_pages_drop_the_no_worker_banner(app, browser_client, start_cluster):
    cache.clear()  # forget clusters of earlier tests, already stopped
    client = browser_client("viewer")
    assert client.get("/healthz").json() == {"database": "ok", "workers": 0}
    assert b"No worker is running" in client.get("/").content

    start_cluster()

    wait_for(lambda: client.get("/healthz").json()["workers"] >= 1, timeout=60, what="the cluster to report")
    assert b"No worker is running" not in client.get("/").content
