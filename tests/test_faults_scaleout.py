"""A PostgreSQL that drops every connection (what a restart does) while deployments run.

Run by `make test` in the scale-out pass (DATABASE_URL and REDIS_URL set, see the Makefile).
`pg_terminate_backend` cuts connections exactly as a restart's shutdown does ("terminating
connection due to administrator command"), without stopping the server others use.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection

from deployments.log import DeploymentLog
from deployments.models import Deployment
from projects.models import Target
from tests.engine_util import Gate
from tests.gitutil import remote_head
from tests.helpers import DEPLOYS, deployment_row, log_lines, log_text, wait_for

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres():
    assert connection.vendor == "postgresql", (
        "These tests need PostgreSQL: run them through `make test`, which sets DATABASE_URL."
    )
    import psycopg

    db = connection.settings_dict
    dsn = f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"

    def cut(*, ours_too: bool) -> int:
        """Terminate the test database's connections (this test's own too when asked): how many."""
        with psycopg.connect(dsn, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
                [0 if ours_too else own],
            ).fetchall()
        return len(rows)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]
    return cut


def test_log_lines_written_while_the_connection_is_cut_are_kept_and_stored_once_it_is_back(app, users, repo, postgres):
    deployment = deployment_row(app, users, sha=repo.shas[-1], status="running")
    output = DeploymentLog(deployment)
    output.add(["before the cut"])
    output.flush()

    assert postgres(ours_too=True) >= 1
    output.add(["remote: -----> Building", "remote: during the cut"])
    output.flush()  # meets the dead connection: the lines stay pending, the connection is dropped
    output.note("after the cut")
    output.flush()

    assert log_lines(deployment) == [
        "before the cut",
        "remote: -----> Building",
        "remote: during the cut",
        "[bartender] after the cut",
    ]


def test_a_push_goes_on_and_is_recorded_when_every_worker_connection_is_cut(
    app, api, repo, tmp_path: Path, start_cluster, postgres
):
    import redis
    from django.conf import settings

    redis.from_url(settings.REDIS_URL).flushdb()  # a private database number: no tasks of earlier runs
    gate = Gate(tmp_path)
    Target.objects.filter(slug="staging").update(remote_url=str(gate.remote))
    start_cluster(Q_WORKERS="1", DEPLOY_HEARTBEAT="1", DEPLOY_STALE_AFTER="30")
    pk = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]
    wait_for(gate.started, timeout=60, what="the push to reach the remote's hook")

    assert postgres(ours_too=False) >= 1  # the worker's, its heartbeat thread's, the cluster's
    time.sleep(2.5)  # cancel checks and heartbeats meet the dead connections meanwhile
    gate.release()

    done = wait_for(
        lambda: Deployment.objects.filter(pk=pk, status__in=["succeeded", "failed"]).first(), timeout=60,
        what="the deployment to finish",
    )  # fmt: skip
    assert done.status == "succeeded", log_text(done)
    assert remote_head(gate.remote) == repo.shas[-1]
    assert Target.objects.get(slug="staging").live_sha == repo.shas[-1]
    text = log_text(done)
    assert "Building" in text and "is now at" in text
