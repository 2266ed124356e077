"""Auto-deploy: a target following a branch deploys each new green head, as `system`."""

from __future__ import annotations

import os
import time

import pytest

from deployments import tasks
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects import mirror
from projects.models import Lock, Target
from tests.cd_helpers import SECRET, drain, github
from tests.gitutil import remote_head


@pytest.fixture
def follow(app, api):
    Target.objects.filter(slug="staging").update(auto_deploy_branch="main", require_ci=True)
    assert api("app_admin").put("/api/apps/shop/github-webhook", {"secret": SECRET}).status_code == 204
    return app


def green(sha: str, state: str = "success") -> None:
    event = {"sha": sha, "state": state, "context": "ci/tests", "updated_at": None}
    assert github("status", event).status_code == 201


def test_a_green_head_is_deployed_by_the_system(follow, repo, remote, django_capture_on_commit_callbacks):
    green(repo.shas[-1])

    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_app(follow.pk)
    drain(django_capture_on_commit_callbacks)

    deployment = Deployment.objects.get()
    assert (deployment.status, deployment.automatic, deployment.requested_by_name) == ("succeeded", True, "system")
    assert remote_head(remote) == repo.shas[-1]
    assert AuditEvent.objects.filter(action="deployment.requested", actor="system").exists()


def test_a_red_head_waits_and_deploys_once_it_turns_green(follow, repo, remote, django_capture_on_commit_callbacks):
    green(repo.shas[-1], "failure")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_app(follow.pk)
    drain(django_capture_on_commit_callbacks)
    assert not Deployment.objects.exists()

    green(repo.shas[-1])  # the status webhook asks auto-deploy to look again
    drain(django_capture_on_commit_callbacks)

    assert Deployment.objects.get().status == "succeeded"
    assert remote_head(remote) == repo.shas[-1]


def test_a_locked_target_is_not_auto_deployed(follow, repo, remote, users, django_capture_on_commit_callbacks):
    Lock.objects.create(target=Target.objects.get(slug="staging"), reason="Freeze", by="app_admin")
    green(repo.shas[-1])

    drain(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_app(follow.pk)

    assert not Deployment.objects.exists()
    assert remote_head(remote) == ""


def test_a_head_that_says_deploy_skip_or_is_live_already_is_skipped(follow, repo, django_capture_on_commit_callbacks):
    skipped = repo.commit("Docs only [deploy skip]", {"README": "x"})
    green(skipped)
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = tasks.refresh_app(follow.pk)
    assert not Deployment.objects.exists()
    assert "[deploy skip]" in outcomes[0]

    Target.objects.filter(slug="staging").update(live_sha=skipped, auto_deploy_head="")
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = tasks.refresh_app(follow.pk)
    assert not Deployment.objects.exists()
    assert "already live" in outcomes[0]


def test_a_newer_head_supersedes_a_queued_auto_deployment(follow, repo, django_capture_on_commit_callbacks):
    Target.objects.filter(slug="staging").update(require_ci=False)
    tasks.refresh_app(follow.pk)  # queued, not run: its enqueue waits for a commit that never comes
    older = Deployment.objects.get()
    newer_sha = repo.commit("Newer head", {"app.txt": "newer"})

    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_app(follow.pk)
    drain(django_capture_on_commit_callbacks)

    older.refresh_from_db()
    assert older.status == "cancelled"
    assert older.reason == f"superseded by {newer_sha[:7]}"
    newer = Deployment.objects.exclude(pk=older.pk).get()
    assert (newer.sha, newer.status) == (newer_sha, "succeeded")


def test_the_minute_schedule_fetches_auto_deploying_apps(follow, repo, django_capture_on_commit_callbacks):
    Target.objects.filter(slug="staging").update(require_ci=False)
    mirror.sync(follow)
    new = repo.commit("Noticed without webhooks", {"app.txt": "polled"})
    a_minute_ago = time.time() - 60
    os.utime(mirror.path(follow) / "bartender-fetched", (a_minute_ago, a_minute_ago))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.every_minute() == 1
    drain(django_capture_on_commit_callbacks)

    assert Deployment.objects.get().sha == new
