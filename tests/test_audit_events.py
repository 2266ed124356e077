"""Each audited action leaves exactly one event with the right actor, source and detail."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from deployments.engine import claim, finish, run
from deployments.models import Deployment, LogLine
from portal.audit.models import AuditEvent
from tests.helpers import run_worker

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


def only(action: str) -> AuditEvent:
    found = list(AuditEvent.objects.filter(action=action))
    assert len(found) == 1, [(e.action, e.detail) for e in found]
    return found[0]


def test_a_deployment_leaves_requested_started_and_succeeded(app, deploy, repo):
    deployment = deploy().pk

    requested, started, succeeded = (
        only("deployment.requested"),
        only("deployment.started"),
        only("deployment.succeeded"),
    )
    assert (requested.actor, requested.source, requested.deployment) == ("deployer", "api", deployment)
    assert requested.detail.startswith(f"deploy of {repo.shas[-1][:7]} (main) to staging")
    assert (started.actor, started.source) == ("system", "worker")
    assert (succeeded.actor, succeeded.source, succeeded.app, succeeded.target) == (
        "system",
        "worker",
        "shop",
        "staging",
    )


def test_a_rollback_says_so_and_how_far_back(app, deploy, repo):
    deploy()
    deploy(repo.shas[2])

    rollback = AuditEvent.objects.filter(action="deployment.requested").order_by("id").last()
    assert "rollback, 2 commits back from" in rollback.detail


def test_a_failed_push_leaves_one_failed_event(app, deploy, repo):
    broken = repo.commit("Breaks the build", {"BREAK": "x"})
    deploy(broken)

    assert "pre-receive hook declined" in only("deployment.failed").detail
    assert not AuditEvent.objects.filter(action="deployment.succeeded").exists()


def test_cancelling_a_queued_deployment_leaves_one_event(app, api):
    deployment = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]

    assert api("app_admin").post(f"/api/deployments/{deployment}/cancel").status_code == 202
    assert api("app_admin").post(f"/api/deployments/{deployment}/cancel").status_code == 409

    event = only("deployment.cancelled")
    assert (event.actor, event.deployment, event.detail) == ("app_admin", deployment, "Cancelled by app_admin.")
    run_worker()
    assert AuditEvent.objects.filter(action="deployment.cancelled").count() == 1


def test_cancelling_a_running_deployment_is_audited_once_as_the_person_who_cancelled(app, api):
    pk = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]
    claimed = claim.claim_next(app.targets.get().pk)  # a worker took it: it is running
    assert claimed is not None and claimed.pk == pk

    assert api("app_admin").post(f"/api/deployments/{pk}/cancel").status_code == 202
    assert api("deployer").post(f"/api/deployments/{pk}/cancel").status_code == 202  # asked again: still running
    run.execute(claimed)  # the worker reads the cancel before git starts

    assert Deployment.objects.get(pk=pk).status == "cancelled"
    event = only("deployment.cancelled")
    assert (event.actor, event.source, event.ip, event.deployment) == ("app_admin", "api", "127.0.0.1", pk)
    assert event.detail.endswith("to staging: Cancelled by app_admin.")


def test_a_cancel_that_comes_after_the_push_finished_leaves_the_success_and_a_log_line(app, api):
    pk = api("deployer").post(DEPLOYS, {"ref": "main"}).json()["id"]
    claimed = claim.claim_next(app.targets.get().pk)
    assert claimed is not None and claimed.pk == pk

    assert api("app_admin").post(f"/api/deployments/{pk}/cancel").status_code == 202
    # The push ended before the worker looked at the cancel again: the worker records the success.
    assert finish.finish(claimed, status="succeeded", reason="")

    assert Deployment.objects.get(pk=pk).status == "succeeded"
    assert not AuditEvent.objects.filter(action="deployment.cancelled").exists()
    assert only("deployment.succeeded").actor == "system"
    log = list(LogLine.objects.filter(deployment_id=pk).order_by("n").values_list("text", flat=True))
    assert log[-1] == "[bartender] app_admin asked to cancel, but the deployment had already succeeded."


def test_locking_and_unlocking_leave_one_event_each(app, api):
    path = "/api/apps/shop/targets/staging/lock"
    api("deployer").post(path, {"reason": "Release freeze"})
    api("deployer").post(path, {"reason": "again"})  # 409: already locked
    api("deployer").delete(path)

    assert only("target.locked").detail == "Locked: Release freeze"
    assert (only("target.unlocked").actor, only("target.unlocked").target) == ("deployer", "staging")


def test_access_changes_through_the_api_say_what_changed(app, api):
    path = "/api/apps/shop/access/outsider"
    api("app_admin").put(path, {"role": "viewer"})
    api("app_admin").put(path, {"role": "viewer"})  # no change, no event
    api("app_admin").put(path, {"role": "deployer", "deploy_protected": True})
    api("app_admin").delete(path)

    assert only("access.granted").detail == "Granted viewer to outsider."
    assert only("access.changed").detail == "Changed outsider from viewer to deployer + deploy_protected."
    assert only("access.revoked").detail == "Revoked outsider's access."
    assert {e.actor for e in AuditEvent.objects.filter(action__startswith="access.")} == {"app_admin"}


def test_creating_users_apps_and_targets_is_audited_without_secrets(app, api, repo, settings):
    settings.ALLOWED_REMOTES = ["https://git.example.com/*"]
    api("staff").post("/api/users", {"username": "newbie", "password": "a-Long-pass-123"})
    api("staff").post("/api/apps", {"slug": "blog", "name": "Blog", "repo_url": str(repo.path)})
    api("app_admin").post(
        "/api/apps/shop/targets",
        {"slug": "prod", "name": "Prod", "remote_url": "https://git.example.com/shop.git", "api_key": "KEY-123456"},
    )

    assert (only("user.created").actor, only("user.created").detail) == ("staff", "Created user newbie.")
    assert only("app.created").app == "blog"
    created = only("target.created")
    assert created.detail == "Added target prod pushing to https://git.example.com/shop.git with an API key."
    assert not AuditEvent.objects.filter(detail__contains="KEY-123456").exists()


def test_a_refused_action_leaves_one_denied_event(app, api):
    response = api("viewer").post(DEPLOYS, {"ref": "main"})

    assert response.status_code == 403
    event = only("denied")
    assert (event.actor, event.app, event.target, event.source) == ("viewer", "shop", "staging", "api")
    assert event.detail == "Refused to deploy: viewer is viewer."


def test_an_app_the_user_cannot_see_is_not_audited_as_denied(app, api):
    assert api("outsider").post(DEPLOYS, {"ref": "main"}).status_code == 404
    assert not AuditEvent.objects.filter(action="denied").exists()


def test_a_deleted_users_events_remain(app, api, deploy, users):
    deploy()
    before = list(AuditEvent.objects.filter(actor="deployer").values_list("id", "action", "detail"))

    get_user_model().objects.filter(username="deployer").delete()

    assert before
    assert list(AuditEvent.objects.filter(actor="deployer").values_list("id", "action", "detail")) == before
    listed = api("staff").get("/api/audit?user=deployer").json()
    assert [e["action"] for e in listed] == [b[1] for b in reversed(before)]


def test_a_deleted_apps_history_remains_for_staff(app, api, deploy):
    deploy()
    app.delete()

    listed = api("staff").get("/api/audit?app=shop").json()
    assert {"deployment.requested", "deployment.succeeded"} <= {e["action"] for e in listed}
