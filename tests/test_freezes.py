"""Freezes: an app's (app admin) or every app's (staff); a deploy request during one is refused
with its reason, a rollback goes out unless the target says otherwise, queued deployments wait
and start when the freeze ends, and auto-deploy then deploys the newest green head only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployments.engine import opening
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects import mirror
from projects.models import Freeze, Target
from tests.cd_helpers import SECRET, drain, github
from tests.gitutil import remote_head
from tests.helpers import request_deployment, run_worker

MONDAY = datetime(2026, 12, 7, 10, tzinfo=UTC)
FREEZE = {"starts_at": "2026-12-07T09:00:00Z", "ends_at": "2026-12-09T08:00:00Z", "reason": "release freeze"}
DEPLOYS = "/api/apps/shop/targets/staging/deployments"


@pytest.fixture
def monday(clock):
    clock.set(MONDAY)
    return clock


def test_an_app_admin_creates_lists_and_deletes_a_freeze_audited(app, api, monday):
    response = api("app_admin").post("/api/apps/shop/freezes", {**FREEZE, "targets": ["staging"]})

    assert response.status_code == 201, response.content
    made = response.json()
    assert {key: made[key] for key in ("app", "reason", "targets", "created_by")} == {
        "app": "shop", "reason": "release freeze", "targets": ["staging"], "created_by": "app_admin",
    }  # fmt: skip
    assert made["ends_at"].startswith("2026-12-09T08:00:00")
    assert AuditEvent.objects.filter(action="freeze.created", actor="app_admin", app="shop").count() == 1
    assert [f["id"] for f in api("viewer").get("/api/apps/shop/freezes").json()] == [made["id"]]

    assert api("app_admin").delete(f"/api/apps/shop/freezes/{made['id']}").status_code == 204
    assert not Freeze.objects.exists()
    assert AuditEvent.objects.filter(action="freeze.deleted", actor="app_admin", app="shop").count() == 1


def test_viewers_see_freezes_of_every_app_with_their_apps_own(app, api, monday):
    assert api("staff").post("/api/freezes", {**FREEZE, "reason": "company holiday"}).status_code == 201

    listed = api("viewer").get("/api/apps/shop/freezes").json()

    assert [(f["app"], f["reason"]) for f in listed] == [(None, "company holiday")]
    assert api("app_admin").get("/api/freezes").status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": "2026-12-07T08:00:00Z"}, "ends_at"),
        ({"reason": "  "}, "reason"),
        ({"targets": ["nowhere"]}, "targets"),
    ],
)
def test_a_bad_freeze_is_a_400_naming_the_field_and_makes_nothing(app, api, monday, change, field):
    response = api("app_admin").post("/api/apps/shop/freezes", {**FREEZE, **change})

    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:")
    assert not Freeze.objects.exists()


def test_only_staff_freeze_every_app(app, api, monday):
    response = api("app_admin").post("/api/freezes", FREEZE)

    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="denied", actor="app_admin").count() == 1
    assert not Freeze.objects.exists()


def test_a_freeze_refuses_a_deploy_with_its_reason_and_end(app, api, monday):
    api("app_admin").post("/api/apps/shop/freezes", FREEZE)

    response = api("deployer").post(DEPLOYS, {"ref": "main"})

    assert response.status_code == 409
    assert "Frozen until Wed 08:00 UTC: release freeze" in response.json()["detail"]
    assert not Deployment.objects.exists()


def test_a_freeze_of_every_app_limited_to_some_targets_holds_only_those(app, api, monday):
    Target.objects.create(app=app, slug="qa", name="QA", remote_url="/srv/qa.git")
    api("staff").post("/api/freezes", {**FREEZE, "targets": ["qa"]})

    assert api("deployer").post("/api/apps/shop/targets/qa/deployments", {"ref": "main"}).status_code == 409
    assert api("deployer").post(DEPLOYS, {"ref": "main"}).status_code == 202


def test_a_freeze_not_begun_or_over_holds_nothing(app, api, clock):
    clock.set(MONDAY)
    api("app_admin").post("/api/apps/shop/freezes", FREEZE)
    clock.set(MONDAY.replace(hour=8))  # before it starts

    assert api("deployer").post(DEPLOYS, {"ref": "main"}).status_code == 202
    clock.set(datetime(2026, 12, 9, 8, tzinfo=UTC))  # its end: open again
    assert api("deployer").post(DEPLOYS, {"ref": "main"}).status_code == 202


def test_a_rollback_goes_out_during_a_freeze(app, api, repo, deploy, monday):
    assert deploy("main").status == "succeeded"
    api("app_admin").post("/api/apps/shop/freezes", FREEZE)

    rollback = deploy(repo.shas[-3])

    assert (rollback.kind, rollback.status) == ("rollback", "succeeded")


def test_a_rollback_waits_too_when_the_target_says_so(app, api, repo, deploy, monday):
    assert deploy("main").status == "succeeded"
    Target.objects.filter(slug="staging").update(rollbacks_during_freeze=False)
    api("app_admin").post("/api/apps/shop/freezes", FREEZE)

    response = api("deployer").post(DEPLOYS, {"ref": repo.shas[-3]})

    assert response.status_code == 409
    assert "release freeze" in response.json()["detail"]


def test_a_queued_deployment_waits_out_a_freeze_and_starts_when_it_ends(
    app, users, remote, repo, clock, django_capture_on_commit_callbacks
):
    clock.set(MONDAY.replace(hour=8))
    with django_capture_on_commit_callbacks(execute=True):
        queued = request_deployment(users)  # accepted: the freeze has not begun
    Freeze.objects.create(
        app=app, starts_at=MONDAY.replace(hour=8), ends_at=MONDAY + timedelta(hours=2), reason="x", created_by="x"
    )

    run_worker()  # the worker is handed it while frozen: it stays queued, as under a lock
    queued.refresh_from_db()
    assert queued.status == "queued"
    assert opening.start_opened() == {"opened": 0, "auto_deploy_checked": 0}

    clock.set(MONDAY + timedelta(hours=2))
    assert opening.start_opened()["opened"] == 1
    run_worker()

    queued.refresh_from_db()
    assert queued.status == "succeeded"
    assert remote_head(remote) == repo.shas[-1]


def test_an_overridden_deployment_starts_during_a_freeze(app, api, remote, repo, monday, worker):
    api("app_admin").post("/api/apps/shop/freezes", FREEZE)

    response = worker(lambda: api("app_admin").post(DEPLOYS, {"ref": "main", "window_override_reason": "hotfix"}))

    assert response.status_code == 202
    assert Deployment.objects.get().status == "succeeded"


def green(sha: str) -> None:
    event = {"sha": sha, "state": "success", "context": "ci/tests", "updated_at": None}
    assert github("status", event).status_code == 201


def test_auto_deploy_deploys_only_the_newest_green_head_when_the_freeze_ends(
    app, api, repo, remote, clock, django_capture_on_commit_callbacks
):
    Target.objects.filter(slug="staging").update(auto_deploy_branch="main", require_ci=True)
    assert api("app_admin").put("/api/apps/shop/github-webhook", {"secret": SECRET}).status_code == 204
    clock.set(MONDAY)
    api("app_admin").post("/api/apps/shop/freezes", FREEZE)
    for n in range(3):  # three heads turn green while frozen
        head = repo.commit(f"Change {n}", {"app.txt": f"v{n}"})
        mirror.sync(app)
        with django_capture_on_commit_callbacks(execute=True):
            green(head)
        drain(django_capture_on_commit_callbacks)
    assert not Deployment.objects.exists()

    clock.set(datetime(2026, 12, 9, 8, 1, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        assert opening.start_opened()["auto_deploy_checked"] == 1
    drain(django_capture_on_commit_callbacks)

    deployment = Deployment.objects.get()
    assert (deployment.sha, deployment.status, deployment.automatic) == (head, "succeeded", True)
    assert remote_head(remote) == head


def test_the_admin_makes_and_deletes_freezes_audited(app, staff, monday):
    response = staff.post(
        "/admin/projects/freeze/add/",
        {
            "app": app.pk,
            "starts_at_0": "2026-12-07",
            "starts_at_1": "09:00:00",
            "ends_at_0": "2026-12-08",
            "ends_at_1": "09:00:00",
            "reason": "audit week",
            "targets": '["staging"]',
        },
    )

    assert response.status_code == 302, response.content[:2000]
    freeze = Freeze.objects.get()
    assert (freeze.reason, freeze.targets, freeze.created_by) == ("audit week", ["staging"], "staff")
    assert AuditEvent.objects.filter(action="freeze.created", actor="staff").count() == 1
    staff.post(f"/admin/projects/freeze/{freeze.pk}/delete/", {"post": "yes"})
    assert not Freeze.objects.exists()
    assert AuditEvent.objects.filter(action="freeze.deleted", actor="staff").count() == 1


def test_the_reaper_leaves_a_frozen_queue_alone_and_the_sweep_starts_it_later(app, users, monday):
    from deployments.engine import reaper
    from tests.helpers import deployment_row

    waiting = deployment_row(app, users, sha="a" * 40)
    Deployment.objects.filter(pk=waiting.pk).update(created_at=MONDAY - timedelta(hours=1))  # long forgotten
    Freeze.objects.create(app=app, starts_at=MONDAY, ends_at=MONDAY + timedelta(hours=1), reason="x", created_by="x")

    assert reaper.reap()["requeued"] == 0


def test_an_approved_deployment_still_waits_out_a_freeze(app, api, clock, django_capture_on_commit_callbacks):
    Target.objects.filter(slug="staging").update(require_approval=True)
    clock.set(MONDAY.replace(hour=8))
    pending = api("deployer").post(DEPLOYS, {"ref": "main"}).json()
    assert pending["status"] == "pending_approval"
    Freeze.objects.create(app=app, starts_at=MONDAY.replace(hour=8), ends_at=MONDAY, reason="x", created_by="x")

    with django_capture_on_commit_callbacks(execute=True):
        assert api("app_admin").post(f"/api/deployments/{pending['id']}/approve").status_code == 200
    run_worker()

    assert Deployment.objects.get().status == "queued"


def test_the_target_page_lists_the_freezes_that_hold_it(app, api, browser_client, monday):
    api("app_admin").post("/api/apps/shop/freezes", {**FREEZE, "starts_at": "2026-12-08T09:00:00Z"})

    body = browser_client("viewer").get("/apps/shop/targets/staging/").content.decode()

    assert "Freezes of Staging" in body
    assert "release freeze" in body
