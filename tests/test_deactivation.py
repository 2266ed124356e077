"""A user deactivated in Bartender loses every session and API token at once."""

from __future__ import annotations

from django.contrib.auth import get_user_model


def test_a_deactivated_user_loses_sessions_and_tokens_at_once(app, api, users, browser_client):
    browser = browser_client("deployer")
    token = api("deployer")
    assert browser.get("/").status_code == 200
    assert token.get("/api/apps").status_code == 200

    get_user_model().objects.filter(username="deployer").update(is_active=False)

    assert browser.get("/").status_code == 302  # back to the login page
    assert token.get("/api/apps").status_code == 401
