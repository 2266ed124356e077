"""API tokens on the profile page: named, optionally expiring, last use shown, revoked by their owner."""

from __future__ import annotations

import re

from portal.audit.models import AuditEvent
from portal.models import ApiToken
from tests.helpers import Api


def create(client, name: str = "laptop", days: str = ""):
    return client.post("/accounts/profile/tokens/", {"name": name, "expires_days": days})


def test_a_user_creates_a_token_that_is_shown_once_and_works(app, browser_client):
    client = browser_client("deployer")

    response = create(client, "laptop", "30")

    assert response.status_code == 201
    raw = re.search(r'<code class="new-token">([^<]+)</code>', response.content.decode()).group(1)
    assert Api(raw).get("/api/apps").json()[0]["slug"] == "shop"
    token = ApiToken.objects.get(name="laptop")
    assert token.user.username == "deployer" and token.expires_at is not None
    assert raw not in client.get("/accounts/profile/").content.decode()
    [event] = AuditEvent.objects.filter(action="token.created")
    assert (event.actor, event.source) == ("deployer", "web")
    assert event.detail.startswith("Created API token 'laptop' for deployer, expiring ")
    assert raw not in event.detail


def test_the_profile_lists_only_the_users_own_tokens_with_their_last_use(app, browser_client, users):
    mine, raw = ApiToken.issue(user=users["deployer"], name="mine")
    ApiToken.issue(user=users["viewer"], name="someone-elses")
    Api(raw).get("/api/apps")

    page = browser_client("deployer").get("/accounts/profile/").content.decode()

    assert "mine" in page and "someone-elses" not in page
    assert "ago" in page  # last used


def test_a_user_revokes_their_own_token_and_it_stops_working(app, browser_client, users):
    token, raw = ApiToken.issue(user=users["deployer"], name="old")
    client = browser_client("deployer")

    response = client.post(f"/accounts/profile/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    assert Api(raw).get("/api/apps").status_code == 401
    [event] = AuditEvent.objects.filter(action="token.revoked")
    assert (event.actor, event.detail) == ("deployer", "Revoked API token 'old' of deployer.")


def test_revoking_a_ci_token_from_the_profile_names_its_app(app, api, browser_client):
    assert api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "github-actions"}).status_code == 201
    token = ApiToken.objects.get(name="github-actions")

    response = browser_client("app_admin").post(f"/accounts/profile/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    [event] = AuditEvent.objects.filter(action="token.revoked")
    assert (event.actor, event.app, event.source) == ("app_admin", "shop", "web")


def test_nobody_revokes_another_users_token_from_the_profile(app, browser_client, users):
    token, raw = ApiToken.issue(user=users["viewer"], name="theirs")

    response = browser_client("deployer").post(f"/accounts/profile/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    assert Api(raw).get("/api/apps").status_code == 200
    assert not AuditEvent.objects.filter(action="token.revoked").exists()


def test_an_expired_token_is_refused(app, users):
    from datetime import timedelta

    from django.utils import timezone

    _, raw = ApiToken.issue(user=users["deployer"], name="short", expires_at=timezone.now() - timedelta(seconds=1))

    assert Api(raw).get("/api/apps").status_code == 401


def test_a_token_needs_a_name_and_a_sane_expiry(app, browser_client):
    client = browser_client("deployer")

    assert create(client, "", "").status_code == 302
    assert create(client, "x", "-3").status_code == 302
    assert create(client, "x", "forever").status_code == 302
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="token.created").exists()
