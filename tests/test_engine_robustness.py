"""Faults between the claim and the push, cancels that come during a fetch or a Heroku rollback,
and a remote that never ends its line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from deployments.engine import claim, release_rollback, run
from deployments.engine.push import CUT_MARK, MAX_LINE, LineSplitter
from deployments.models import Deployment
from portal import crypto
from portal.audit.models import AuditEvent
from projects.models import App, Target
from tests.gitutil import bare_remote, git, remote_head
from tests.helpers import log_lines, run_worker, wait_for
from tests.heroku_api import HEROKU_KEY

DEPLOYS = "/api/apps/shop/targets/staging/deployments"
KEY_UNREADABLE = "The target's API key cannot be read with this ENCRYPTION_KEY; set it again."


# A key the target's API key was stored with before ENCRYPTION_KEY changed.


def test_a_key_stored_under_another_encryption_key_fails_the_deployment_at_once_and_says_why(app, deploy, remote, repo):
    stale = Fernet(Fernet.generate_key()).encrypt(b"an-old-api-key").decode()
    Target.objects.filter(app=app, slug="staging").update(api_key_encrypted=stale)

    deployment = deploy()

    assert deployment.status == "failed"
    assert deployment.reason == KEY_UNREADABLE
    assert deployment.finished_at is not None
    assert f"[bartender] Failed: {KEY_UNREADABLE}" in log_lines(deployment.pk)
    assert AuditEvent.objects.filter(deployment=deployment.pk, action="deployment.failed").count() == 1
    assert remote_head(remote) == ""
    # The target is free at once: once the key is set again the next deployment goes out.
    Target.objects.filter(app=app, slug="staging").update(api_key_encrypted=crypto.encrypt("a-new-api-key"))
    assert deploy().status == "succeeded"
    assert remote_head(remote) == repo.shas[-1]


# Heroku targets, against the loopback Platform API and smart-HTTP git server.


def released(deploy, repo) -> Deployment:
    """A deployment to prod with its Heroku release recorded, as a rollback needs."""
    first = deploy(repo.shas[-2], target="prod")
    deploy(target="prod")
    first.refresh_from_db()
    assert first.heroku_release_id, log_lines(first.pk)
    return first


def test_a_running_heroku_release_rollback_cannot_be_cancelled_and_says_so(prod, api, deploy, repo, heroku):
    first = released(deploy, repo)
    response = api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {})
    assert response.status_code == 202, response.content
    rollback = claim.claim_next(prod.pk)  # what a worker holds while it calls the Platform API
    assert rollback is not None and rollback.kind == "release_rollback"

    cancel = api("deployer").post(f"/api/deployments/{rollback.pk}/cancel")

    assert cancel.status_code == 409
    assert cancel.json()["detail"] == "A Heroku release rollback cannot be stopped once it has started."
    release_rollback.execute(rollback)
    rollback.refresh_from_db()
    assert rollback.status == "succeeded", rollback.reason
    assert not rollback.cancel_requested
    assert not AuditEvent.objects.filter(deployment=rollback.pk, action="deployment.cancelled").exists()


def test_a_queued_heroku_release_rollback_can_still_be_cancelled(prod, api, deploy, repo, heroku):
    first = released(deploy, repo)
    pk = api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}).json()["id"]

    cancel = api("deployer").post(f"/api/deployments/{pk}/cancel")

    assert cancel.status_code == 202, cancel.content
    assert Deployment.objects.get(pk=pk).status == "cancelled"


def test_a_release_rollback_with_an_unreadable_key_fails_with_why(prod, api, worker, deploy, repo, heroku):
    first = released(deploy, repo)
    stale = Fernet(Fernet.generate_key()).encrypt(HEROKU_KEY.encode()).decode()
    Target.objects.filter(pk=prod.pk).update(api_key_encrypted=stale)

    response = worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))

    rollback = Deployment.objects.get(pk=response.json()["id"])
    assert rollback.status == "failed"
    assert rollback.reason == KEY_UNREADABLE


# A worker whose mirror lacks the commit (another machine, its own DATA_DIR) fetches first.


class HeldFetch:
    """Wraps the smart-HTTP git server: a fetch's first upload-pack request waits for `release`, at
    most `hold` s. Only the first: a fetch makes two (protocol v2 lists refs, then fetches), and
    holding one already makes the fetch outlast `hold`."""

    def __init__(self, http_git, hold: float) -> None:
        self.app, self.hold = http_git.app, hold
        self.fetching, self.released = threading.Event(), threading.Event()
        http_git.server.set_app(self)

    def __call__(self, environ: dict, start_response):
        pack = environ["REQUEST_METHOD"] == "POST" and environ.get("PATH_INFO", "").endswith("/git-upload-pack")
        if pack and not self.fetching.is_set():
            self.fetching.set()
            self.released.wait(self.hold)
        return self.app(environ, start_response)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def served_app(app, repo, http_git) -> App:
    """The app's repository behind the smart-HTTP server, with its read token."""
    git("clone", "--quiet", "--bare", str(repo.path), str(http_git.root / "shop.git"))
    App.objects.filter(pk=app.pk).update(
        repo_url=http_git.url("shop.git"), repo_token_encrypted=crypto.encrypt(http_git.password)
    )
    return App.objects.get(pk=app.pk)


def request_elsewhere(api, settings, tmp_path: Path) -> int:
    """Request a deployment here, then become a worker with an empty DATA_DIR of its own."""
    response = api("deployer").post(DEPLOYS, {"ref": "main"})
    assert response.status_code == 202, response.content
    settings.DATA_DIR = tmp_path / "other-worker"
    settings.DATA_DIR.mkdir()
    return response.json()["id"]


def test_the_targets_timeout_counts_the_fetch_and_ends_the_deployment_before_the_push(
    served_app, api, http_git, remote, settings, tmp_path, django_capture_on_commit_callbacks
):
    Target.objects.filter(app=served_app, slug="staging").update(timeout_seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        pk = request_elsewhere(api, settings, tmp_path)
    HeldFetch(http_git, hold=1.5)

    run_worker()

    deployment = Deployment.objects.get(pk=pk)
    assert deployment.status == "failed"
    assert deployment.reason == "timed out after 1 s"
    log = log_lines(pk)
    assert "[bartender] Fetching the repository." in log
    assert "[bartender] Failed: timed out after 1 s" in log
    assert not [line for line in log if "pushing" in line]
    assert remote_head(remote) == ""


@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_the_fetch_ends_the_deployment_when_the_fetch_ends_without_a_push(
    served_app, api, http_git, remote, settings, tmp_path
):
    pk = request_elsewhere(api, settings, tmp_path)
    held = HeldFetch(http_git, hold=30)

    def work() -> None:
        try:
            run.run(pk)  # what a worker does with the task
        finally:
            connection.close()

    fetching = threading.Thread(target=work)
    fetching.start()
    try:
        wait_for(held.fetching.is_set, timeout=30, what="the worker's fetch to reach the server")
        response = api("deployer").post(f"/api/deployments/{pk}/cancel")
        assert response.status_code == 202, response.content
    finally:
        held.release()
        fetching.join(timeout=60)

    assert not fetching.is_alive()
    deployment = Deployment.objects.get(pk=pk)
    assert deployment.status == "cancelled"
    assert deployment.reason == "Cancelled by deployer."
    log = log_lines(pk)
    assert log[-1] == "[bartender] Cancelled before the push: nothing was pushed."
    assert not [line for line in log if "pushing" in line]
    assert remote_head(remote) == ""


# A remote that prints without ever ending its line.


def test_a_line_without_end_is_cut_at_64_kib_in_bounded_memory_and_the_next_line_comes_through():
    splitter = LineSplitter()
    chunk = b"x" * 65536
    given: list[str] = []
    held = 0

    for _ in range(20 * 1024 * 1024 // len(chunk)):  # 20 MB, no \n and no \r
        given += splitter.feed(chunk)
        held = max(held, splitter.pending)
    given += splitter.feed(b"\nremote: Verifying deploy... done.\n")

    assert held <= MAX_LINE + 1
    assert given == ["x" * MAX_LINE + CUT_MARK, "remote: Verifying deploy... done."]


def test_a_cut_line_still_lets_the_next_progress_state_through():
    splitter = LineSplitter()

    given = splitter.feed(b"y" * (MAX_LINE + 10) + b"more of the same\rCompiling 100%, done.\r\nnext\n")

    assert given == ["y" * MAX_LINE + CUT_MARK, "Compiling 100%, done.", "next"]


def test_a_remote_that_prints_megabytes_without_a_newline_leaves_one_cut_line(app, deploy, tmp_path):
    hook = "#!/bin/sh\ncat >/dev/null\nhead -c 5000000 /dev/zero | tr '\\0' x\necho\necho 'Build done.'\n"
    Target.objects.filter(app=app, slug="staging").update(remote_url=str(bare_remote(tmp_path / "endless.git", hook)))

    deployment = deploy()

    assert deployment.status == "succeeded", deployment.reason
    log = log_lines(deployment.pk)
    cut = [line for line in log if "xxxx" in line]
    assert len(cut) == 1 and cut[0].endswith(CUT_MARK), [line[:80] for line in cut]
    assert len(cut[0]) < MAX_LINE + 100
    assert "remote: Build done." in log
