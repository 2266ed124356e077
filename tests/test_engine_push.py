"""The push under stress, in the test process: timeout, cancel, logs, idempotency and locks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection

from deployments.engine import reaper, run
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.engine_util import Gate, alive
from tests.gitutil import bare_remote, remote_head
from tests.helpers import log_lines, run_worker, wait_for

DEPLOYS = "/api/apps/shop/targets/staging/deployments"
LOCK = "/api/apps/shop/targets/staging/lock"


def use_remote(app, path: Path, **fields) -> None:
    Target.objects.filter(app=app, slug="staging").update(remote_url=str(path), **fields)


def beating_for(pk: int) -> float:
    """Seconds between a deployment's claim and its latest heartbeat."""
    deployment = Deployment.objects.get(pk=pk)
    return (deployment.heartbeat_at - deployment.started_at).total_seconds() if deployment.started_at else 0.0


def test_a_push_past_the_targets_timeout_is_killed_and_fails_timed_out(app, deploy, tmp_path: Path):
    gate = Gate(tmp_path)
    use_remote(app, gate.remote, timeout_seconds=1)

    deployment = deploy()

    assert deployment.status == "failed"
    assert deployment.reason == "timed out after 1 s"
    assert "[bartender] Failed: timed out after 1 s" in log_lines(deployment)
    hook = gate.started()[0].pid
    wait_for(lambda: not alive(hook), timeout=10, what="the remote's hook to be ended with git's group")
    assert remote_head(gate.remote) == ""
    assert AuditEvent.objects.filter(deployment=deployment.pk, action="deployment.failed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_push_ends_git_and_its_process_group(app, api, tmp_path: Path):
    gate = Gate(tmp_path)
    use_remote(app, gate.remote)
    pk = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]

    def work() -> None:
        try:
            run.run(pk)  # what a worker does with the task
        finally:
            connection.close()

    pushing = threading.Thread(target=work)
    pushing.start()
    hook = wait_for(gate.started, what="the push to reach the remote's hook")[0].pid

    response = api("deployer").post(f"/api/deployments/{pk}/cancel")
    assert response.status_code == 202
    pushing.join(timeout=30)

    assert not pushing.is_alive()
    cancelled = Deployment.objects.get(pk=pk)
    assert cancelled.status == "cancelled"
    assert cancelled.reason == "Cancelled by deployer."
    assert "[bartender] Cancelled: git was stopped; the remote is as git left it." in log_lines(cancelled)
    wait_for(lambda: not alive(hook), timeout=10, what="the remote's hook to be ended with git's group")
    assert not gate.ended()
    assert remote_head(gate.remote) == ""
    assert api("deployer").post(f"/api/deployments/{pk}/cancel").status_code == 409
    assert AuditEvent.objects.filter(deployment=pk, action="deployment.cancelled").count() == 1


def test_progress_rewritten_with_carriage_returns_keeps_only_its_last_state(app, deploy, tmp_path: Path):
    hook = "#!/bin/sh\ncat >/dev/null\nprintf 'Compiling 10%%\\rCompiling 55%%\\rCompiling 100%%, done.\\n'\n"
    use_remote(app, bare_remote(tmp_path / "progress.git", hook))

    deployment = deploy()

    assert deployment.status == "succeeded", deployment.reason
    log = log_lines(deployment)
    assert "remote: Compiling 100%, done." in log
    assert not [line for line in log if "10%" in line or "55%" in line or "\r" in line]


def test_a_log_past_the_cap_is_cut_with_a_note_and_the_push_goes_on(app, deploy, repo, tmp_path, settings):
    settings.LOG_MAX_BYTES = 4096
    hook = "#!/bin/sh\ncat >/dev/null\nseq 1 2000 | sed 's/^/build output line /'\n"
    remote = bare_remote(tmp_path / "chatty.git", hook)
    use_remote(app, remote)

    deployment = deploy()

    assert deployment.status == "succeeded", deployment.reason
    assert remote_head(remote) == repo.shas[-1]
    log = log_lines(deployment)
    cut = log.index("[bartender] The log was cut here at 4096 bytes; the push went on.")
    output = [line for line in log[:cut] if not line.startswith("[bartender]")]
    assert 3000 < sum(len(line.encode()) + 1 for line in output) <= 4096
    assert not [line for line in log[cut:] if "build output" in line]
    assert log[-1] == f"[bartender] Staging is now at {repo.shas[-1][:7]}."


def test_an_idempotency_key_retry_answers_the_same_deployment(app, api, users):
    client = api("deployer")
    first = client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="release-42")
    retry = client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="release-42")
    other = client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="release-43")

    assert first.status_code == retry.status_code == other.status_code == 202
    assert retry.json() == first.json()
    assert other.json()["id"] != first.json()["id"]
    assert Deployment.objects.count() == 2
    assert AuditEvent.objects.filter(action="deployment.requested").count() == 2


def test_a_lock_refuses_new_deployments_holds_the_queue_and_unlocking_resumes_it(
    app, api, repo, remote, django_capture_on_commit_callbacks
):
    deployer = api("deployer")
    with django_capture_on_commit_callbacks(execute=True):
        queued = deployer.post(DEPLOYS, {"ref": "main"}).json()["id"]
    locked = deployer.post(LOCK, {"reason": "Database migration in progress"})
    assert locked.status_code == 201
    assert locked.json()["reason"] == "Database migration in progress"

    run_worker()  # the queued deployment's task runs, and may not start

    assert Deployment.objects.get(pk=queued).status == "queued"
    assert remote_head(remote) == ""
    refused = deployer.post(DEPLOYS, {"ref": "main"})
    assert refused.status_code == 409
    assert "Database migration in progress" in refused.json()["detail"]
    assert deployer.post(LOCK, {"reason": "again"}).status_code == 409
    [target] = deployer.get("/api/apps").json()[0]["targets"]
    assert target["locked"] is True
    assert target["lock"]["reason"] == "Database migration in progress"

    with django_capture_on_commit_callbacks(execute=True):
        assert deployer.delete(LOCK).status_code == 204
    run_worker()

    assert Deployment.objects.get(pk=queued).status == "succeeded"
    assert remote_head(remote) == repo.shas[-1]
    assert Deployment.objects.count() == 1
    actions = list(AuditEvent.objects.filter(app="shop").order_by("id").values_list("action", flat=True))
    assert actions.index("target.locked") < actions.index("target.unlocked") < actions.index("deployment.started")


@pytest.mark.django_db(transaction=True)
def test_the_reaper_leaves_a_live_push_alone_because_its_worker_heart_beats(app, api, tmp_path, settings):
    # Beats every 0.5 s against a 1.5 s staleness period (the environment only takes whole seconds;
    # a test's settings need not): the push outlives the period by a third, as 4 s did 3 s.
    settings.DEPLOY_HEARTBEAT, settings.DEPLOY_STALE_AFTER = 0.5, 1.5
    gate = Gate(tmp_path)
    use_remote(app, gate.remote)
    pk = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]

    def work() -> None:
        try:
            run.run(pk)
        finally:
            connection.close()

    pushing = threading.Thread(target=work)
    pushing.start()
    wait_for(gate.started, what="the push to reach the remote's hook")
    wait_for(lambda: beating_for(pk) > 2, timeout=20, what="the push to outlive the staleness period")

    assert reaper.reap() == {"lost": 0, "requeued": 0}
    assert Deployment.objects.get(pk=pk).status == "running"
    gate.release()
    pushing.join(timeout=30)
    assert Deployment.objects.get(pk=pk).status == "succeeded"
