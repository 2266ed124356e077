"""Two-person approval through the API: pending on request, approve, reject, expiry, break glass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployments import approval, tasks
from deployments.engine import reaper
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Access, Role, Target
from tests.cd_helpers import Receiver, drain
from tests.gitutil import remote_head
from tests.helpers import DEPLOYS, Api

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def request(api, worker, name: str = "deployer", **body) -> dict:
    response = worker(lambda: api(name).post(DEPLOYS, {"ref": "main", **body}))
    assert response.status_code == 202, response.content
    return response.json()


def test_a_request_to_an_approval_target_waits_pending_and_queues_nothing(approval_target, api, worker, remote, clock):
    clock.set(START)

    answer = request(api, worker)

    assert answer["status"] == "pending_approval"
    deployment = Deployment.objects.get(pk=answer["id"])
    assert deployment.started_at is None and remote_head(remote) == ""
    assert abs(deployment.approval_expires_at - (START + timedelta(minutes=30))) < timedelta(seconds=30)
    requested = AuditEvent.objects.get(action="deployment.requested", deployment=deployment.pk)
    assert "waits for approval" in requested.detail
    shown = api("viewer").get(f"/api/deployments/{deployment.pk}").json()
    assert (shown["status"], shown["approved_by"]) == ("pending_approval", None)


def test_another_deployer_approves_and_the_deployment_runs(approval_target, api, worker, repo, remote):
    pending = request(api, worker)

    response = worker(lambda: api("reviewer").post(f"/api/deployments/{pending['id']}/approve"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "queued" and response.json()["approved_by"] == "reviewer"
    deployment = Deployment.objects.get(pk=pending["id"])
    assert deployment.status == "succeeded", deployment.reason
    assert remote_head(remote) == repo.shas[-1]
    approved = AuditEvent.objects.get(action="deployment.approved", deployment=deployment.pk)
    assert approved.actor == "reviewer"


def test_the_requester_cannot_approve_their_own_deployment(approval_target, api, worker, remote):
    pending = request(api, worker)

    response = worker(lambda: api("deployer").post(f"/api/deployments/{pending['id']}/approve"))

    assert response.status_code == 403
    assert response.json() == {"detail": "you cannot approve your own deployment"}
    assert Deployment.objects.get(pk=pending["id"]).status == "pending_approval"
    assert AuditEvent.objects.filter(action="denied", actor="deployer", deployment=pending["id"]).count() == 1
    assert remote_head(remote) == ""


def test_a_viewer_cannot_approve_and_an_outsider_cannot_see_it(approval_target, api, worker):
    pending = request(api, worker)

    assert api("viewer").post(f"/api/deployments/{pending['id']}/approve").status_code == 403
    assert api("outsider").post(f"/api/deployments/{pending['id']}/approve").status_code == 404
    assert Deployment.objects.get(pk=pending["id"]).status == "pending_approval"


def test_a_ci_token_cannot_approve(approval_target, api, worker, users, app):
    pending = request(api, worker)
    token = Api(ApiToken.issue(user=users["app_admin"], name="ci", ci_app=app)[1])

    response = token.post(f"/api/deployments/{pending['id']}/approve")

    assert response.status_code == 403
    assert Deployment.objects.get(pk=pending["id"]).status == "pending_approval"
    assert AuditEvent.objects.filter(action="denied", actor="app_admin").exists()


def test_the_system_never_approves(approval_target, api, worker):
    from django.http import Http404

    from portal.actor import Actor

    deployment = Deployment.objects.get(pk=request(api, worker)["id"])

    with pytest.raises(Http404):
        approval.approve(actor=Actor.system(), deployment=deployment)
    assert Deployment.objects.get(pk=deployment.pk).status == "pending_approval"


def test_a_protected_target_needs_an_approver_who_may_deploy_there(approval_target, api, worker, users):
    Target.objects.filter(pk=approval_target.pk).update(protected=True)
    Access.objects.filter(user=users["deployer"]).update(deploy_protected=True)
    pending = request(api, worker)

    refused = api("reviewer").post(f"/api/deployments/{pending['id']}/approve")
    approved = worker(lambda: api("app_admin").post(f"/api/deployments/{pending['id']}/approve"))

    assert refused.status_code == 403 and "protected" in refused.json()["detail"]
    assert approved.status_code == 200
    assert Deployment.objects.get(pk=pending["id"]).approved_by == "app_admin"


def test_approving_what_is_not_pending_is_a_conflict(approval_target, api, worker):
    pending = request(api, worker)
    worker(lambda: api("reviewer").post(f"/api/deployments/{pending['id']}/approve"))

    again = api("app_admin").post(f"/api/deployments/{pending['id']}/approve")

    assert again.status_code == 409
    assert "not waiting for approval" in again.json()["detail"]
    assert AuditEvent.objects.filter(action="deployment.approved").count() == 1


def test_rejecting_cancels_with_the_reason(approval_target, api, worker, remote):
    pending = request(api, worker)

    reject = f"/api/deployments/{pending['id']}/reject"
    response = worker(lambda: api("reviewer").post(reject, {"reason": "not on a Friday"}))

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["reason"]) == ("cancelled", "not on a Friday")
    rejected = AuditEvent.objects.get(action="deployment.rejected", deployment=pending["id"])
    assert rejected.actor == "reviewer" and "not on a Friday" in rejected.detail
    assert remote_head(remote) == ""
    assert api("app_admin").post(f"/api/deployments/{pending['id']}/approve").status_code == 409


def test_a_rejection_needs_a_reason(approval_target, api, worker):
    pending = request(api, worker)

    response = api("reviewer").post(f"/api/deployments/{pending['id']}/reject", {"reason": "  "})

    assert response.status_code == 400 and response.json()["detail"].startswith("reason:")
    assert Deployment.objects.get(pk=pending["id"]).status == "pending_approval"


def test_an_approval_not_given_in_time_expires_and_cancels(approval_target, api, worker, remote, clock):
    clock.set(START)
    pending = request(api, worker)

    clock.set(START + timedelta(minutes=29))
    reaper.reap()
    assert Deployment.objects.get(pk=pending["id"]).status == "pending_approval"

    clock.set(START + timedelta(minutes=31))
    reaper.reap()

    deployment = Deployment.objects.get(pk=pending["id"])
    assert (deployment.status, deployment.reason) == ("cancelled", "approval expired")
    cancelled = AuditEvent.objects.get(action="deployment.cancelled", deployment=deployment.pk)
    assert cancelled.actor == "system" and "approval expired" in cancelled.detail
    late = worker(lambda: api("reviewer").post(f"/api/deployments/{deployment.pk}/approve"))
    assert late.status_code == 409
    assert remote_head(remote) == ""


def test_an_approval_after_the_deadline_but_before_the_sweep_is_refused(approval_target, api, worker, clock):
    clock.set(START)
    pending = request(api, worker)
    clock.set(START + timedelta(hours=2))

    late = worker(lambda: api("reviewer").post(f"/api/deployments/{pending['id']}/approve"))

    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert Deployment.objects.get(pk=pending["id"]).reason == "approval expired"


def test_an_app_admin_may_skip_the_approval_with_a_reason(approval_target, api, worker, repo, remote):
    answer = request(api, worker, "app_admin", approval_override_reason="outage, the reviewer is asleep")

    deployment = Deployment.objects.get(pk=answer["id"])
    assert deployment.status == "succeeded", deployment.reason
    assert remote_head(remote) == repo.shas[-1]
    skipped = AuditEvent.objects.get(action="deployment.approval_override", deployment=deployment.pk)
    assert skipped.actor == "app_admin" and "outage, the reviewer is asleep" in skipped.detail


def test_a_deployer_may_not_skip_the_approval(approval_target, api, worker):
    response = worker(lambda: api("deployer").post(DEPLOYS, {"ref": "main", "approval_override_reason": "hurry"}))

    assert response.status_code == 403
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(action="denied", actor="deployer").count() == 1


def test_an_approver_who_lost_access_since_does_not_count_at_start(
    approval_target, api, worker, users, remote, django_capture_on_commit_callbacks
):
    pending = request(api, worker)
    with django_capture_on_commit_callbacks(execute=False):  # approved, but no worker runs it yet
        assert api("reviewer").post(f"/api/deployments/{pending['id']}/approve").status_code == 200
    Access.objects.filter(user=users["reviewer"]).update(role=Role.VIEWER)

    tasks.run_deployment(pending["id"])

    deployment = Deployment.objects.get(pk=pending["id"])
    assert deployment.status == "failed"
    assert deployment.reason.startswith("approval by reviewer no longer counts: reviewer may no longer deploy")
    assert remote_head(remote) == ""


def test_the_requester_may_cancel_a_pending_deployment(approval_target, api, worker):
    pending = request(api, worker)

    response = api("deployer").post(f"/api/deployments/{pending['id']}/cancel")

    assert response.status_code == 202 and response.json()["status"] == "cancelled"


def test_approval_settings_are_set_and_shown_through_the_targets_api(app, api):
    admin = api("app_admin")

    changed = admin.call("patch", "/api/apps/shop/targets/staging", {"require_approval": True, "approval_minutes": 15})
    created = admin.post("/api/apps/shop/targets", {"slug": "qa", "name": "QA", "heroku_app": "shop-qa",
                                                    "require_approval": True})  # fmt: skip

    assert changed.status_code == 200, changed.content
    assert (changed.json()["require_approval"], changed.json()["approval_minutes"]) == (True, 15)
    assert created.status_code == 201, created.content
    assert (created.json()["require_approval"], created.json()["approval_minutes"]) == (True, 60)
    changed_event = AuditEvent.objects.filter(action="target.changed").latest("id")
    assert "require_approval" in changed_event.detail


@pytest.mark.parametrize("minutes", [0, -5, "soon", 1.5, True])
def test_approval_minutes_must_be_a_positive_whole_number(app, api, minutes):
    response = api("app_admin").call("patch", "/api/apps/shop/targets/staging", {"approval_minutes": minutes})

    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("approval_minutes")
    assert Target.objects.get(slug="staging").approval_minutes == 60


def test_webhooks_hear_of_the_approval_request_with_a_link_and_of_a_skipped_approval(
    approval_target, api, worker, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.SITE_URL = "https://deploy.example.com"
    with Receiver() as slack, Receiver() as hook:
        for name, url, kind in (("chat", slack.url, "slack"), ("bot", hook.url, "json")):
            made = api("app_admin").post("/api/apps/shop/webhooks", {"name": name, "url": url, "format": kind})
            assert made.status_code == 201, made.content
        pending = request(api, worker)
        drain(django_capture_on_commit_callbacks)
        request(api, worker, "app_admin", approval_override_reason="hotfix <now>")
        drain(django_capture_on_commit_callbacks)

    link = f"https://deploy.example.com/deployments/{pending['id']}/"
    asked = next(r["json"] for r in hook.received if r["json"]["event"] == "deployment.approval_requested")
    assert asked["deployment"]["url"] == link and "reviewer" in asked["text"]
    said = [r["json"]["text"] for r in slack.received]
    assert any("waits for approval" in text and link in text for text in said)
    assert any("skipped its approval" in text and "hotfix &lt;now&gt;" in text for text in said)
    assert any(r["json"]["event"] == "deployment.approval_override" for r in hook.received)


def test_the_admin_target_form_sets_approval_and_refuses_zero_minutes(app, staff):
    from django.urls import reverse

    from tests.helpers import post_data

    url = reverse("admin:projects_target_change", args=[app.targets.get().pk])

    refused = staff.post(url, post_data(staff.get(url), require_approval="on", approval_minutes="0"))
    assert refused.status_code == 200 and "approval_minutes" in refused.context["adminform"].form.errors
    assert Target.objects.get(slug="staging").require_approval is False

    saved = staff.post(url, post_data(staff.get(url), require_approval="on", approval_minutes="15"))
    assert saved.status_code == 302
    target = Target.objects.get(slug="staging")
    assert (target.require_approval, target.approval_minutes) == (True, 15)
    assert "require_approval" in AuditEvent.objects.filter(action="target.changed").latest("id").detail
