"""The scale-out configuration for real: PostgreSQL, the Redis broker, two worker clusters.

Run by `make test` in its own pytest pass with DATABASE_URL and REDIS_URL set (see the
Makefile). It never skips: run without those servers it fails and says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from deployments.models import Deployment
from projects.models import Access, App, Role, Target
from tests.gitutil import Repo, bare_remote, remote_head
from tests.helpers import wait_for

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

TARGETS = 10
ROUNDS = 4
# Each push records when it starts and ends, so overlaps on one remote are visible.
TIMED_HOOK = """#!/bin/sh
echo "start $(date +%s.%N)" >> "$GIT_DIR/pushes.log"
sleep 0.3
echo "-----> Building"
echo "end $(date +%s.%N)" >> "$GIT_DIR/pushes.log"
"""


@pytest.fixture
def real_servers():
    assert connection.vendor == "postgresql", (
        "The scale-out tests need PostgreSQL: run them through `make test`, which sets DATABASE_URL."
    )
    assert settings.REDIS_URL, "The scale-out tests need Redis: run them through `make test`, which sets REDIS_URL."
    import redis

    server = redis.from_url(settings.REDIS_URL)
    assert server.ping()
    server.flushdb()  # a private database number: forget tasks of earlier runs


def intervals(remote: Path) -> list[tuple[float, float]]:
    marks = (remote / "pushes.log").read_text().split("\n")
    starts = [float(line.split()[1]) for line in marks if line.startswith("start")]
    ends = [float(line.split()[1]) for line in marks if line.startswith("end")]
    return list(zip(starts, ends, strict=True))


def test_two_worker_clusters_share_the_queue_without_overlapping_pushes(
    real_servers, users, api, tmp_path, start_cluster
):
    repo = Repo(tmp_path / "repo", commits=ROUNDS)
    app = App.objects.create(slug="fleet", name="Fleet", repo_url=str(repo.path))
    Access.objects.create(app=app, user=users["deployer"], role=Role.DEPLOYER)
    remotes = {}
    for n in range(TARGETS):
        remote = bare_remote(tmp_path / f"remote-{n}.git", TIMED_HOOK)
        Target.objects.create(app=app, slug=f"t{n}", name=f"T{n}", remote_url=str(remote))
        remotes[f"t{n}"] = remote
    start_cluster("alpha", WORKER_NAME="alpha")
    start_cluster("beta", WORKER_NAME="beta")

    client = api("deployer")
    last_sha = {}
    for round_ in range(ROUNDS):
        for slug in remotes:
            response = client.post(f"/api/apps/fleet/targets/{slug}/deployments", {"ref": repo.shas[round_]})
            assert response.status_code == 202, response.content
            last_sha[slug] = repo.shas[round_]

    wait_for(
        lambda: not Deployment.objects.filter(status__in=["queued", "running"]).exists(),
        timeout=240, every=0.5, what="all 40 deployments to finish",
    )  # fmt: skip

    deployments = list(Deployment.objects.order_by("id"))
    assert len(deployments) == TARGETS * ROUNDS
    assert [d.status for d in deployments] == ["succeeded"] * len(deployments), [d.reason for d in deployments]
    assert {d.worker.split(":")[0] for d in deployments} == {"alpha", "beta"}
    for slug, remote in remotes.items():
        assert remote_head(remote) == last_sha[slug]
        spans = sorted(intervals(remote))
        assert len(spans) == ROUNDS
        for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False):
            assert end <= next_start, f"two pushes overlapped on {slug}"
        mine = sorted((d for d in deployments if d.target.slug == slug), key=lambda d: d.started_at)
        assert [d.sha for d in mine] == repo.shas[:ROUNDS], "a target ran its deployments out of request order"
