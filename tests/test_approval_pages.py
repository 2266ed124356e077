"""Two-person approval on the pages and in auto-deploy: who asked, who can approve, the buttons."""

from __future__ import annotations

from deployments import tasks
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.cd_helpers import drain
from tests.gitutil import remote_head
from tests.helpers import page


def request_in_browser(browser_client, worker, name: str = "deployer", **fields) -> Deployment:
    response = worker(
        lambda: browser_client(name).post("/apps/shop/targets/staging/deploy/", {"ref": "main", **fields})
    )
    assert response.status_code == 302, response.content
    return Deployment.objects.order_by("-id").first()


def test_the_deployment_page_shows_who_asked_what_would_go_out_and_who_can_approve(
    approval_target, browser_client, worker, repo
):
    Target.objects.filter(pk=approval_target.pk).update(live_sha=repo.shas[2])
    deployment = request_in_browser(browser_client, worker)
    assert deployment.status == "pending_approval"

    body = page(browser_client("reviewer"), f"/deployments/{deployment.pk}/")

    assert "Waiting for approval" in body and "deployer asked to deploy" in body
    approvers = body.split('id="approvers"')[1].split("</p>")[0]
    assert "reviewer" in approvers and "app_admin" in approvers and "deployer" not in approvers
    assert 'id="approve-button"' in body and 'id="reject-button"' in body
    assert "What would go out to Staging" in body and "(2 commits" in body


def test_a_viewer_sees_the_state_but_no_buttons_and_the_requester_cannot_approve(
    approval_target, browser_client, worker
):
    deployment = request_in_browser(browser_client, worker)

    as_viewer = page(browser_client("viewer"), f"/deployments/{deployment.pk}/")
    as_requester = page(browser_client("deployer"), f"/deployments/{deployment.pk}/")

    assert "Waiting for approval" in as_viewer
    assert 'id="approve-button"' not in as_viewer and 'id="reject-button"' not in as_viewer
    assert 'id="approve-button"' not in as_requester and "you cannot approve your own deployment" in as_requester


def test_approving_from_the_page_queues_and_runs_the_deployment(approval_target, browser_client, worker, repo, remote):
    deployment = request_in_browser(browser_client, worker)

    response = worker(lambda: browser_client("reviewer").post(f"/deployments/{deployment.pk}/approve/"))

    assert response.status_code == 302 and response["Location"] == f"/deployments/{deployment.pk}/"
    deployment.refresh_from_db()
    assert (deployment.status, deployment.approved_by) == ("succeeded", "reviewer")
    assert remote_head(remote) == repo.shas[-1]
    assert "Approved by reviewer" in page(browser_client("viewer"), f"/deployments/{deployment.pk}/")


def test_approving_from_the_page_needs_the_csrf_token(approval_target, browser_client, worker, users):
    from django.test import Client

    deployment = request_in_browser(browser_client, worker)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(users["reviewer"])

    assert strict.post(f"/deployments/{deployment.pk}/approve/").status_code == 403
    assert Deployment.objects.get(pk=deployment.pk).status == "pending_approval"


def test_rejecting_from_the_page_cancels_with_the_reason(approval_target, browser_client, worker):
    deployment = request_in_browser(browser_client, worker)

    response = browser_client("reviewer").post(f"/deployments/{deployment.pk}/reject/", {"reason": "wrong branch"})

    assert response.status_code == 302
    deployment.refresh_from_db()
    assert (deployment.status, deployment.reason, deployment.cancelled_by) == ("cancelled", "wrong branch", "reviewer")


def test_the_app_page_and_dashboard_list_pending_approvals(approval_target, browser_client, worker):
    deployment = request_in_browser(browser_client, worker)

    for url in ("/apps/shop/", "/"):
        body = page(browser_client("viewer"), url)
        listed = body.split('id="approvals"')[1].split("</section>")[0]
        assert "Waiting for approval" in listed and f"/deployments/{deployment.pk}/" in listed, url
        assert "asked by deployer" in listed, url
    assert f"/deployments/{deployment.pk}/" not in page(browser_client("outsider"), "/")


def test_the_confirmation_page_offers_app_admins_the_break_glass_field(approval_target, browser_client):
    as_admin = page(browser_client("app_admin"), "/apps/shop/targets/staging/deploy/?ref=main")
    as_deployer = page(browser_client("deployer"), "/apps/shop/targets/staging/deploy/?ref=main")

    assert 'name="approval_override_reason"' in as_admin
    assert "needs a second person" in as_deployer and 'name="approval_override_reason"' not in as_deployer


def test_an_app_admin_skips_the_approval_from_the_deploy_form(approval_target, browser_client, worker):
    deployment = request_in_browser(browser_client, worker, "app_admin", approval_override_reason="site is down")

    assert deployment.status == "succeeded", deployment.reason
    assert AuditEvent.objects.filter(action="deployment.approval_override", actor="app_admin").exists()
    assert "Approval skipped by app_admin: site is down" in page(
        browser_client("viewer"), f"/deployments/{deployment.pk}/"
    )


# Auto-deploy ---------------------------------------------------------------------------------


def test_an_auto_deploy_to_an_approval_target_waits_for_approval(
    approval_target, repo, remote, browser_client, worker, django_capture_on_commit_callbacks
):
    Target.objects.filter(pk=approval_target.pk).update(auto_deploy_branch="main")
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = tasks.refresh_app(approval_target.app_id)
    drain(django_capture_on_commit_callbacks)

    waiting = Deployment.objects.get()
    assert (waiting.status, waiting.automatic, waiting.requested_by_name) == ("pending_approval", True, "system")
    assert "waiting for approval" in outcomes[0]
    assert remote_head(remote) == ""

    worker(lambda: browser_client("deployer").post(f"/deployments/{waiting.pk}/approve/"))

    waiting.refresh_from_db()
    assert (waiting.status, waiting.approved_by) == ("succeeded", "deployer")
    assert remote_head(remote) == repo.shas[-1]


def test_a_newer_head_supersedes_an_auto_deployment_waiting_for_approval(
    approval_target, repo, django_capture_on_commit_callbacks
):
    Target.objects.filter(pk=approval_target.pk).update(auto_deploy_branch="main")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_app(approval_target.app_id)
    older = Deployment.objects.get()
    newer_sha = repo.commit("Newer head", {"app.txt": "newer"})

    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_app(approval_target.app_id)
    drain(django_capture_on_commit_callbacks)

    older.refresh_from_db()
    assert (older.status, older.reason) == ("cancelled", "superseded by a newer head")
    newer = Deployment.objects.exclude(pk=older.pk).get()
    assert (newer.sha, newer.status, newer.automatic) == (newer_sha, "pending_approval", True)


def test_the_live_tail_offers_the_buttons_to_an_approver_and_drops_them_once_approved(
    approval_target, browser_client, worker
):
    deployment = request_in_browser(browser_client, worker)
    reviewer = browser_client("reviewer")

    before = reviewer.get(f"/deployments/{deployment.pk}/tail").json()["facts"]
    worker(lambda: browser_client("app_admin").post(f"/deployments/{deployment.pk}/approve/"))
    after = reviewer.get(f"/deployments/{deployment.pk}/tail").json()["facts"]

    assert 'id="approve-button"' in before and "csrfmiddlewaretoken" in before
    assert 'id="approve-button"' not in after and "Approved by app_admin" in after
