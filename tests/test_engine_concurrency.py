"""Many deployment requests at once, from threads and from two processes, run by two clusters.

The remote's hook records when each push starts and ends: one target never sees two pushes at
once, and they land in the order the requests were accepted.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from deployments.models import Deployment
from portal.models import ApiToken
from projects.models import Target
from tests.gitutil import bare_remote, remote_head
from tests.helpers import Api, cluster_env, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

DEPLOYS = "/api/apps/shop/targets/staging/deployments"

# Each push holds a moment in the hook so overlapping pushes could not go unnoticed.
_RECORDING_HOOK = """#!/bin/sh
while read old new ref; do
  echo "start $new" >> {events}
  sleep 0.2
  echo "end $new" >> {events}
done
"""

# One requesting process: its threads wait for the go file, then post one deployment each.
_REQUESTER = """
import sys, threading, time
from pathlib import Path
import django
django.setup()
from django.db import connection
from django.test import Client

token, go, ready, shas = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
failures = []

def post(sha):
    try:
        while not go.exists():
            time.sleep(0.01)
        response = Client().post(
            "{path}", data='{"ref": "%s"}' % sha, content_type="application/json",
            HTTP_AUTHORIZATION="Bearer " + token, HTTP_HOST="localhost",
        )
        if response.status_code != 202:
            failures.append((sha, response.status_code, response.content))
    finally:
        connection.close()

threads = [threading.Thread(target=post, args=(sha,)) for sha in shas]
for thread in threads:
    thread.start()
ready.touch()
for thread in threads:
    thread.join()
sys.exit(repr(failures) if failures else 0)
""".replace("{path}", DEPLOYS)


def test_concurrent_requests_never_overlap_on_one_target_and_run_in_request_order(
    app, users, repo, tmp_path: Path, start_cluster
):
    events = tmp_path / "events"
    remote = bare_remote(tmp_path / "recorded.git", _RECORDING_HOOK.format(events=events))
    Target.objects.filter(app=app, slug="staging").update(remote_url=str(remote))
    for n in range(7):
        repo.commit(f"Concurrent commit {n}", {"app.txt": f"concurrent {n}\n"})
    shas = repo.shas  # 12 commits: 4 requests from threads here, 4 from each of two processes
    _, token = ApiToken.issue(user=users["deployer"], name="concurrency")
    start_cluster("a", Q_WORKERS="2")
    start_cluster("b", Q_WORKERS="2")
    go = tmp_path / "go"

    requesters = [
        subprocess.Popen(
            [sys.executable, "-c", _REQUESTER, token, str(go), str(tmp_path / f"ready-{n}"), *part],
            cwd=Path(__file__).resolve().parent.parent,
            env=cluster_env(tmp_path / f"requester-{n}"),
            stderr=subprocess.PIPE,
        )
        for n, part in enumerate((shas[4:8], shas[8:12]))
    ]
    answers: list[int] = []

    def post(sha: str) -> None:
        try:
            wait_for(go.exists, timeout=60, every=0.01, what="the go signal")
            answers.append(Api(token).post(DEPLOYS, {"ref": sha}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(sha,)) for sha in shas[:4]]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, timeout=60, what="the requesting processes")
    go.touch()
    for thread in threads:
        thread.join(timeout=60)
    for requester in requesters:
        _, err = requester.communicate(timeout=120)
        assert requester.returncode == 0, err.decode()[-2000:]
    assert answers == [202] * 4

    deployments = wait_for(
        lambda: (
            list(Deployment.objects.order_by("id"))
            if Deployment.objects.count() == 12 and not Deployment.objects.exclude(status="succeeded").exists()
            else None
        ),
        timeout=150,
        what="all 12 deployments to succeed",
    )
    assert sorted(d.sha for d in deployments) == sorted(shas)
    log = [line.split() for line in events.read_text().splitlines()]
    # start/end pairs, never two starts in a row: no push overlapped another.
    assert [what for what, _ in log] == ["start", "end"] * 12, log
    assert all(log[i][1] == log[i + 1][1] for i in range(0, 24, 2))
    assert [sha for what, sha in log if what == "start"] == [d.sha for d in deployments]
    for earlier, later in zip(deployments, deployments[1:], strict=False):
        assert earlier.finished_at <= later.started_at
    assert remote_head(remote) == deployments[-1].sha
