"""The CI gate: a target that requires CI refuses commits that are not green, unless overridden."""

from __future__ import annotations

from deployments.engine import run
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.gitutil import remote_head

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


def require_ci(*contexts: str) -> None:
    Target.objects.filter(slug="staging").update(require_ci=True, required_contexts=list(contexts))


def status(api, sha: str, state: str, context: str = "ci/tests") -> None:
    response = api("app_admin").post(f"/api/apps/shop/commits/{sha}/statuses", {"state": state, "context": context})
    assert response.status_code == 201, response.content


def test_a_commit_without_any_status_is_refused_with_the_reason(app, api, repo, remote):
    require_ci()
    response = api("deployer").post(DEPLOYS, {"ref": "main"})
    assert response.status_code == 409
    assert "requires CI" in response.json()["detail"]
    assert "no CI status" in response.json()["detail"]
    assert not Deployment.objects.exists()


def test_a_red_commit_is_refused_and_a_green_one_deploys(app, api, worker, repo, remote):
    require_ci()
    status(api, repo.shas[-1], "failure")
    refused = api("deployer").post(DEPLOYS, {"ref": "main"})
    assert refused.status_code == 409
    assert "ci/tests is failure" in refused.json()["detail"]

    status(api, repo.shas[-1], "success")
    response = worker(lambda: api("deployer").post(DEPLOYS, {"ref": "main"}))

    assert response.status_code == 202
    assert Deployment.objects.get().status == "succeeded"
    assert remote_head(remote) == repo.shas[-1]


def test_required_contexts_must_all_be_green_and_others_do_not_matter(app, api, repo):
    require_ci("ci/tests", "ci/build")
    status(api, repo.shas[-1], "success", "ci/tests")
    status(api, repo.shas[-1], "failure", "ci/optional")
    missing = api("deployer").post(DEPLOYS, {"ref": "main"})
    assert missing.status_code == 409
    assert "no status for ci/build" in missing.json()["detail"]

    status(api, repo.shas[-1], "success", "ci/build")
    assert api("deployer").post(DEPLOYS, {"ref": "main"}).status_code == 202


def test_an_app_admin_may_override_the_gate_with_a_reason_and_it_is_audited(app, api, worker, repo, remote):
    require_ci()
    status(api, repo.shas[-1], "failure")
    body = {"ref": "main", "ci_override_reason": "Hotfix; the flaky test is known"}

    response = worker(lambda: api("app_admin").post(DEPLOYS, body))

    assert response.status_code == 202, response.content
    deployment = Deployment.objects.get()
    assert deployment.status == "succeeded"
    override = AuditEvent.objects.get(action="deployment.ci_override")
    assert override.actor == "app_admin" and override.deployment == deployment.pk
    assert "Hotfix; the flaky test is known" in override.detail
    assert remote_head(remote) == repo.shas[-1]


def test_a_deployer_may_not_override_the_gate(app, api, repo):
    require_ci()
    response = api("deployer").post(DEPLOYS, {"ref": "main", "ci_override_reason": "please"})
    assert response.status_code == 403
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(action="denied", actor="deployer").exists()


def test_the_gate_is_checked_again_when_a_queued_deployment_starts(app, api, repo, remote):
    require_ci()
    status(api, repo.shas[-1], "success")
    queued = api("deployer").post(DEPLOYS, {"ref": "main"}).json()
    status(api, repo.shas[-1], "failure")

    run.run(queued["id"])

    deployment = Deployment.objects.get(pk=queued["id"])
    assert deployment.status == "failed"
    assert deployment.reason.startswith("CI gate at start:")
    assert remote_head(remote) == ""


def test_the_confirmation_page_shows_the_gate_and_lets_only_admins_override(app, api, repo, browser_client):
    require_ci()
    status(api, repo.shas[-1], "failure")
    url = f"/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}"

    as_deployer = browser_client("deployer").get(url).content.decode()
    as_admin = browser_client("app_admin").get(url).content.decode()

    assert "ci/tests is failure" in as_deployer and "ci_override_reason" not in as_deployer
    assert "ci_override_reason" in as_admin
    form = browser_client("app_admin").post(
        "/apps/shop/targets/staging/deploy/", {"ref": repo.shas[-1], "ci_override_reason": "release day"}
    )
    assert form.status_code == 302
    assert Deployment.objects.get().ci_override.startswith("release day")
