"""Whoever vouches for the CI gate is not whoever it gates: CI tokens and app admins post statuses."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Access, CommitStatus, Role
from tests.helpers import Api

SHA = "a" * 40
GREEN = {"state": "success", "context": "ci/tests"}


def test_a_deployer_cannot_turn_a_red_gate_green(app, api):
    answer = api("deployer").post(f"/api/apps/shop/commits/{SHA}/statuses", GREEN)

    assert answer.status_code == 403
    assert not CommitStatus.objects.exists()
    assert AuditEvent.objects.filter(action="denied", actor="deployer").exists()


def test_an_app_admin_may_post_a_status_and_it_is_audited(app, api):
    answer = api("app_admin").post(f"/api/apps/shop/commits/{SHA}/statuses", GREEN)

    assert answer.status_code == 201
    event = AuditEvent.objects.get(action="ci.status_posted")
    assert (event.actor, event.app) == ("app_admin", "shop")
    assert "success" in event.detail and "ci/tests" in event.detail


def test_a_ci_token_posts_without_an_audit_row_per_status(app, api):
    raw = api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "GitHub Actions"}).json()["token"]

    answer = Api(raw).post(f"/api/apps/shop/commits/{SHA}/statuses", GREEN)

    assert answer.status_code == 201
    assert not AuditEvent.objects.filter(action="ci.status_posted").exists()


def test_app_admins_list_and_revoke_ci_tokens(app, api):
    raw = api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "Jenkins"}).json()["token"]
    listed = api("app_admin").get("/api/apps/shop/ci-tokens").json()

    assert [(t["name"], t["created_by"]) for t in listed] == [("Jenkins", "app_admin")]
    assert api("deployer").get("/api/apps/shop/ci-tokens").status_code == 403
    assert api("app_admin").delete(f"/api/apps/shop/ci-tokens/{listed[0]['id']}").status_code == 204
    assert Api(raw).post(f"/api/apps/shop/commits/{SHA}/statuses", GREEN).status_code == 401
    assert AuditEvent.objects.filter(action="token.revoked", app="shop").exists()


def test_a_ci_token_dies_when_its_maker_loses_admin(app, api, users):
    raw = api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "CI"}).json()["token"]
    Access.objects.filter(app=app, user=users["app_admin"]).update(role=Role.DEPLOYER)

    answer = Api(raw).post(f"/api/apps/shop/commits/{SHA}/statuses", GREEN)

    assert answer.status_code == 401
    assert not CommitStatus.objects.exists()
    assert not ApiToken.objects.filter(ci_app=app).exists()
    assert AuditEvent.objects.filter(action="token.revoked", actor="system").exists()


def test_the_ci_tokens_page_lists_makes_and_revokes(app, browser_client):
    admin = browser_client("app_admin")

    made = admin.post("/apps/shop/ci-tokens/", {"name": "Buildkite"})
    token = ApiToken.objects.get(ci_app=app)
    revoked = admin.post(f"/apps/shop/ci-tokens/{token.pk}/revoke/")

    assert made.status_code == 200 and b"Buildkite" in made.content and b"bt_" in made.content
    assert revoked.status_code == 302
    assert not ApiToken.objects.filter(ci_app=app).exists()
    assert browser_client("deployer").get("/apps/shop/ci-tokens/").status_code == 403
    assert get_user_model().objects.filter(username="app_admin").exists()
