"""Faults the engine and the web live through: lost workers settled from the remote, a broker that
cannot take a task, a database that does not answer (issue 15, "What a first fault probe found").

The database and broker failures are real: child processes pointed at a closed loopback port.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from deployments.engine import reaper
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Target
from tests.engine_util import Gate
from tests.gitutil import git, remote_head
from tests.helpers import BASE, DEPLOYS, cluster_env, deployment_row, log_text, wait_for


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lost_deployment(app, users, sha: str, *, worker: str = "elsewhere:1", beat_age: float = 3600) -> Deployment:
    """A running deployment whose worker is gone: no heartbeat for `beat_age` seconds."""
    beat = timezone.now() - timedelta(seconds=beat_age)
    return deployment_row(app, users, sha=sha, status="running", started_at=beat, heartbeat_at=beat, worker=worker)


def landed(repo, remote: Path, sha: str) -> None:
    """What a killed worker's push leaves behind: the remote finished receiving it."""
    git("push", "--quiet", str(remote), f"{sha}:refs/heads/main", cwd=repo.path)


# --- the reaper asks the remote ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_reaper_records_a_lost_push_that_landed_as_succeeded_confirmed_from_the_remote(app, users, repo, remote):
    sha = repo.shas[-1]
    lost = lost_deployment(app, users, sha)
    landed(repo, remote, sha)

    assert reaper.reap()["lost"] == 1

    lost.refresh_from_db()
    assert lost.status == "succeeded", lost.reason
    assert Target.objects.get(slug="staging").live_sha == sha
    assert "confirmed from the remote" in log_text(lost)
    assert AuditEvent.objects.filter(deployment=lost.pk, action="deployment.succeeded").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lost_release_rollback_is_never_confirmed_by_the_git_ref_it_does_not_move(app, users, repo, remote):
    sha = repo.shas[-1]
    landed(repo, remote, sha)  # the ref holds the sha from an earlier push, not from this rollback
    lost = lost_deployment(app, users, sha)
    Deployment.objects.filter(pk=lost.pk).update(kind="release_rollback")

    assert reaper.reap()["lost"] == 1

    lost.refresh_from_db()
    assert lost.status == "failed"
    assert lost.reason == "worker lost"
    assert "a release rollback is not a push" in log_text(lost)


@pytest.mark.django_db(transaction=True)
def test_the_reaper_fails_a_lost_push_the_remote_does_not_hold(app, users, repo, remote):
    landed(repo, remote, repo.shas[0])  # an earlier deployment's
    lost = lost_deployment(app, users, repo.shas[-1])

    assert reaper.reap()["lost"] == 1

    lost.refresh_from_db()
    assert lost.status == "failed"
    assert lost.reason == "worker lost"
    assert f"does not hold {repo.shas[-1][:7]} (it is at {repo.shas[0][:7]})" in log_text(lost)
    assert Target.objects.get(slug="staging").live_sha == ""
    assert remote_head(remote) == repo.shas[0]


@pytest.mark.django_db(transaction=True)
def test_the_reaper_leaves_a_lost_deployment_running_while_its_heartbeat_is_fresh(app, users, repo, remote):
    landed(repo, remote, repo.shas[-1])
    live = lost_deployment(app, users, repo.shas[-1], beat_age=0)

    assert reaper.reap()["lost"] == 0
    assert Deployment.objects.get(pk=live.pk).status == "running"


# --- real clusters ------------------------------------------------------------------------------


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_a_restarted_cluster_settles_its_dead_processes_deployment_at_once_not_after_the_heartbeat_goes_stale(
    app, users, repo, remote, start_cluster
):
    # A process of this machine that has ended: what a crashed cluster's worker leaves in the row.
    ended = subprocess.Popen(["true"])
    ended.wait()
    lost = lost_deployment(app, users, repo.shas[-1], worker=f"crashed:{ended.pid}", beat_age=0)
    landed(repo, remote, repo.shas[-1])

    # The default staleness (60 s) and reaper period (30 s); the grace shrunk to a second.
    start_cluster(WORKER_NAME="crashed", DEPLOY_LOST_GRACE="1")

    done = wait_for(
        lambda: Deployment.objects.filter(pk=lost.pk, status="succeeded").first(), timeout=25, what="the settle"
    )
    assert "confirmed from the remote" in log_text(done)
    assert Target.objects.get(slug="staging").live_sha == repo.shas[-1]


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_a_cluster_started_while_redis_is_down_waits_for_it_and_settles_dead_processes_meanwhile(
    app, users, repo, remote, start_cluster
):
    ended = subprocess.Popen(["true"])
    ended.wait()
    lost = lost_deployment(app, users, repo.shas[-1], worker=f"crashed:{ended.pid}", beat_age=0)
    landed(repo, remote, repo.shas[-1])

    cluster = start_cluster(
        WORKER_NAME="crashed", DEPLOY_LOST_GRACE="1", REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"
    )

    wait_for(lambda: Deployment.objects.filter(pk=lost.pk, status="succeeded").exists(), timeout=25, what="the settle")
    wait_for(lambda: b"trying again" in cluster.log_path.read_bytes(), what="the cluster to wait for the broker")
    assert cluster.poll() is None  # django-q2 alone exits when its broker does not answer at start


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_inside_a_living_cluster_after_its_push_landed_is_succeeded_within_seconds(
    app, api, repo, tmp_path, start_cluster
):
    gate = Gate(tmp_path)
    Target.objects.filter(slug="staging").update(remote_url=str(gate.remote))
    start_cluster(Q_WORKERS="1", DEPLOY_LOST_GRACE="2")
    pk = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]
    wait_for(gate.started, what="the push to reach the remote's hook")
    worker = Deployment.objects.get(pk=pk).worker
    started = timezone.now()

    os.kill(int(worker.rpartition(":")[2]), signal.SIGKILL)  # django-q2 replaces the process
    gate.release()  # the remote finishes the receive whose client died

    done = wait_for(
        lambda: Deployment.objects.filter(pk=pk, status__in=["succeeded", "failed"]).first(), timeout=30,
        what="the lost deployment to be settled",
    )  # fmt: skip
    assert done.status == "succeeded", log_text(done)
    assert (done.finished_at - started).total_seconds() < 20  # not DEPLOY_STALE_AFTER (60 s) + a reaper period
    assert remote_head(gate.remote) == repo.shas[-1]
    assert Target.objects.get(slug="staging").live_sha == repo.shas[-1]
    assert "confirmed from the remote" in log_text(done)


# --- a broker that cannot take the task, a database that does not answer -------------------------

# Settings of a child process: everything as configured, but a cache in memory, so only the part a
# test breaks (the broker, the database) is unreachable.
CHILD_SETTINGS = """
from portal.settings import *  # noqa: F401,F403
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
"""
CHILD_REQUEST = """
import json, sys
import django
django.setup()
from django.test import Client
method, path, token, body = sys.argv[1:5]
headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
client = Client()
if not token:
    client.cookies["sessionid"] = "a-session-the-database-would-hold"
if method == "POST":
    answer = client.post(path, data=body, content_type="application/json", **headers)
else:
    answer = client.get(path, **headers)
print(json.dumps({"status": answer.status_code, "type": answer.get("Content-Type", ""),
                  "body": answer.content.decode()}))
"""


def child_request(tmp_path: Path, env: dict[str, str], method: str, path: str, token: str = "", body: str = "") -> dict:
    """One request through the whole Django stack, in a process of its own with `env`."""
    (tmp_path / "child_settings.py").write_text(CHILD_SETTINGS)
    env = {**env, "PYTHONPATH": f"{tmp_path}{os.pathsep}{BASE}", "DJANGO_SETTINGS_MODULE": "child_settings",
           "ALLOWED_HOSTS": "testserver", "DEBUG": "False"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", CHILD_REQUEST, method, path, token, body],
        cwd=BASE, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_the_deploy_api_answers_202_for_a_deployment_it_created_when_the_broker_is_down(app, users, tmp_path):
    _, token = ApiToken.issue(user=users["deployer"], name="ci")
    # Redis as the broker, at a port where nothing listens: the enqueue after commit fails for real.
    env = cluster_env(tmp_path / "web", REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")

    answer = child_request(tmp_path, env, "POST", DEPLOYS, token, json.dumps({"ref": "main"}))

    assert answer["status"] == 202, answer
    created = Deployment.objects.get(pk=json.loads(answer["body"])["id"])
    assert created.status == "queued"  # the reaper's re-enqueue delivers it


@pytest.mark.django_db(transaction=True)
def test_the_reaper_enqueues_again_a_deployment_whose_task_the_broker_never_took(app, users, repo, remote, settings):
    settings.DEPLOY_STALE_AFTER = 2
    old = timezone.now() - timedelta(seconds=10)
    queued = deployment_row(app, users, sha=repo.shas[-1])
    Deployment.objects.filter(pk=queued.pk).update(created_at=old)

    assert reaper.reap()["requeued"] == 1

    from tests.helpers import run_worker

    assert run_worker() == [queued.pk]
    assert Deployment.objects.get(pk=queued.pk).status == "succeeded"


def unreachable_database(tmp_path: Path) -> dict[str, str]:
    env = cluster_env(tmp_path / "web", DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/bartender")
    env.pop("REDIS_URL", None)
    return env


def test_a_page_answers_503_with_a_sentence_when_the_database_is_unreachable(tmp_path):
    answer = child_request(tmp_path, unreachable_database(tmp_path), "GET", "/apps/shop/")

    assert answer["status"] == 503
    assert answer["type"].startswith("text/html")
    assert "cannot reach its database" in answer["body"]
    assert "Server Error" not in answer["body"]


def test_an_api_call_answers_503_json_with_a_sentence_when_the_database_is_unreachable(tmp_path):
    answer = child_request(tmp_path, unreachable_database(tmp_path), "GET", "/api/apps", token="any-token")

    assert answer["status"] == 503
    assert answer["type"] == "application/json"
    assert "cannot reach its database" in json.loads(answer["body"])["detail"]
