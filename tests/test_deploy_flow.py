"""Deploying commits end to end through the API and the worker, against real git remotes."""

from __future__ import annotations

from pathlib import Path

from deployments.models import Deployment, LogLine
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.gitutil import BUILD_HOOK, bare_remote, remote_head
from tests.helpers import DEPLOYS, log_text


def test_deploying_the_head_moves_the_remote_and_stores_the_output(app, deploy, repo, remote):
    deployment = deploy()

    assert deployment.status == "succeeded", deployment.reason
    assert deployment.sha == repo.shas[-1]
    assert remote_head(remote) == repo.shas[-1]
    assert "remote: -----> Building" in log_text(deployment)
    assert "remote: Verifying deploy... done." in log_text(deployment)
    assert Target.objects.get(slug="staging").live_sha == repo.shas[-1]
    actions = list(AuditEvent.objects.filter(deployment=deployment.pk).order_by("id").values_list("action", flat=True))
    assert actions == ["deployment.requested", "deployment.started", "deployment.succeeded"]


def test_rolling_back_force_moves_the_remote_to_the_older_commit(app, deploy, repo, remote):
    deploy()
    older = repo.shas[1]

    rollback = deploy(older)

    assert rollback.status == "succeeded", rollback.reason
    assert rollback.kind == "rollback"
    assert rollback.commits_back == 3
    assert remote_head(remote) == older
    requested = AuditEvent.objects.get(deployment=rollback.pk, action="deployment.requested")
    assert "rollback, 3 commits back" in requested.detail


def test_deploying_the_live_commit_again_is_a_redeploy(app, deploy, repo):
    deploy()
    again = deploy(repo.shas[-1][:10])
    assert again.kind == "redeploy"
    assert again.status == "succeeded"


def test_a_rejected_push_fails_with_the_remotes_reason_and_leaves_the_remote_unchanged(app, deploy, repo, remote):
    deploy()
    live = remote_head(remote)
    broken = repo.commit("This breaks the build", {"BREAK": "x"})

    failed = deploy(broken)

    assert failed.status == "failed"
    assert "pre-receive hook declined" in failed.reason
    assert "remote:  !     Build failed: BREAK file present" in log_text(failed)
    assert remote_head(remote) == live
    assert Target.objects.get(slug="staging").live_sha == live


def test_an_https_remote_receives_the_push_with_the_api_key_as_password(app, deploy, api, repo, http_git, settings):
    settings.ALLOWED_REMOTES = [http_git.url("*")]
    served = bare_remote(http_git.root / "shop.git", BUILD_HOOK)
    response = api("app_admin").post(
        "/api/apps/shop/targets",
        {"slug": "heroku-like", "name": "Heroku-like", "remote_url": http_git.url("shop.git"),
         "api_key": http_git.password},
    )  # fmt: skip
    assert response.status_code == 201, response.content

    deployment = deploy(target="heroku-like")

    assert deployment.status == "succeeded", deployment.reason
    assert remote_head(served) == repo.shas[-1]
    assert "remote: Verifying deploy... done." in log_text(deployment)
    assert http_git.password not in log_text(deployment)


def test_a_wrong_api_key_fails_clearly_without_revealing_the_key(app, deploy, api, repo, http_git, settings):
    settings.ALLOWED_REMOTES = [http_git.url("*")]
    served = bare_remote(http_git.root / "shop.git")
    wrong_key = "wrong-key-0123456789"
    api("app_admin").post(
        "/api/apps/shop/targets",
        {"slug": "prod", "name": "Prod", "remote_url": http_git.url("shop.git"), "api_key": wrong_key},
    )

    deployment = deploy(target="prod")

    assert deployment.status == "failed"
    assert "Authentication failed" in deployment.reason
    assert wrong_key not in log_text(deployment)
    assert wrong_key not in api("deployer").get(f"/api/deployments/{deployment.pk}").content.decode()
    assert not AuditEvent.objects.filter(detail__contains=wrong_key).exists()
    assert remote_head(served) == ""


def test_a_viewer_may_not_deploy_and_the_refusal_is_audited(app, api, remote):
    response = api("viewer").post(DEPLOYS, {"ref": "main"})

    assert response.status_code == 403
    assert "deployer" in response.json()["detail"]
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(action="denied", actor="viewer", app="shop").count() == 1
    assert remote_head(remote) == ""


def test_an_outsider_cannot_tell_the_app_exists(app, api):
    response = api("outsider").post(DEPLOYS, {"ref": "main"})
    assert response.status_code == 404
    assert api("outsider").get("/api/apps/shop/commits").status_code == 404
    assert api("outsider").get("/api/apps").json() == []


def test_the_log_endpoint_returns_only_lines_after_n(app, deploy, api):
    deployment = deploy()
    total = LogLine.objects.filter(deployment=deployment).count()

    answer = api("viewer").get(f"/api/deployments/{deployment.pk}/log?after=2").json()

    assert answer["status"] == "succeeded"
    assert [line["n"] for line in answer["lines"]] == list(range(3, total + 1))


def test_a_queued_deployment_is_cancelled_at_once(app, api, remote):
    created = api("deployer").post(DEPLOYS, {"ref": "main"}).json()

    response = api("deployer").post(f"/api/deployments/{created['id']}/cancel")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert api("deployer").post(f"/api/deployments/{created['id']}/cancel").status_code == 409
    assert remote_head(remote) == ""


def test_refs_resolve_branch_then_tag_then_sha_prefix(app, api, repo):
    repo.branch("release", repo.shas[1])
    repo.tag("v1.0", repo.shas[2])
    cases = {"release": repo.shas[1], "v1.0": repo.shas[2], repo.shas[3][:7]: repo.shas[3], repo.shas[0]: repo.shas[0]}
    for ref, sha in cases.items():
        response = api("deployer").post(DEPLOYS, {"ref": ref})
        assert response.status_code == 202, (ref, response.content)
        assert response.json()["sha"] == sha, ref


def test_unknown_and_malformed_refs_are_a_400_naming_the_ref(app, api):
    for ref in ("no-such-branch", "main~1", "-delete", "deadbeef00"):
        response = api("deployer").post(DEPLOYS, {"ref": ref})
        assert response.status_code == 400, ref
        assert ref in response.json()["detail"]
    assert not Deployment.objects.exists()


def test_a_missing_field_is_a_400_naming_it(app, api):
    response = api("deployer").post(DEPLOYS, {"note": "no ref"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("ref:")
    response = api("deployer").post(DEPLOYS, "{not json")
    assert response.status_code == 400


def test_a_remote_that_moved_since_it_was_read_is_not_overwritten(app, deploy, repo, remote, tmp_path: Path):
    """The lease comes from ls-remote just before the push: a stray push in between is refused."""
    from deployments.engine import push
    from projects import git, mirror

    deploy()
    lease = push.remote_sha(str(remote), "refs/heads/main", git.NO_CREDENTIALS)
    stray = repo.commit("Pushed by someone else", {"stray.txt": "x"})
    from tests.gitutil import git as run_git

    run_git("push", "--quiet", str(remote), f"{stray}:refs/heads/main", cwd=repo.path)
    mirror.sync(app)
    result = push.push(
        mirror=mirror.path(app), url=str(remote), sha=repo.shas[0], push_ref="refs/heads/main", lease=lease,
        creds=git.NO_CREDENTIALS, on_lines=lambda lines: None, tick=lambda: None,
    )  # fmt: skip
    assert not result.ok
    assert "stale info" in result.reason
    assert remote_head(remote) == stray
