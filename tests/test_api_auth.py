"""Who may call the API: a token (`Bearer` or GitHub's `token` form) or a signed-in session with
CSRF on writes. Without either every method is a 401, never a CSRF 403; a CI token elsewhere is a
403, audited. The clients here enforce CSRF as a browser's server would (Django's test client
skips it unless asked)."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Lock

LOCK = "/api/apps/shop/targets/staging/lock"
STATUSES = "/api/apps/shop/commits/" + "a" * 40 + "/statuses"
CALLS = [
    ("get", "/api/apps", None),
    ("post", LOCK, {"reason": "x"}),
    ("put", "/api/apps/shop/access/viewer", {"role": "viewer"}),
    ("patch", "/api/apps/shop", {"name": "x"}),
    ("delete", LOCK, None),
    ("post", STATUSES, {"state": "success", "context": "ci"}),
    ("post", "/api/users", {"username": "x", "password": "a-Long-passw0rd!"}),
]


def call(client: Client, method: str, path: str, body=None, **headers):
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, json.dumps(body), content_type="application/json", **headers)


def strict() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def ci_token(app, users) -> str:
    _, raw = ApiToken.issue(user=users["app_admin"], name="github-actions", ci_app=app)
    return raw


def test_without_a_valid_token_or_session_every_method_is_a_401_with_a_sentence(app):
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer bt_not-a-real-token"}, {"HTTP_AUTHORIZATION": "token bt_nope"},
                   {"HTTP_AUTHORIZATION": "Basic ZGVwbG95ZXI6cHc="}, {"HTTP_AUTHORIZATION": "Bearer"}):  # fmt: skip
        for method, path, body in CALLS:
            response = call(strict(), method, path, body, **header)
            assert response.status_code == 401, (method, path, header, response.content)
            assert "token" in response.json()["detail"]
            assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Lock.objects.exists()


def test_a_cookie_without_a_session_behind_it_is_a_401_too(app):
    client = strict()
    client.cookies["sessionid"] = "not-a-session"

    response = call(client, "post", LOCK, {"reason": "x"})

    assert response.status_code == 401


def test_githubs_token_form_is_accepted_like_bearer_without_csrf(app, users):
    _, raw = ApiToken.issue(user=users["deployer"], name="script")

    listed = call(strict(), "get", "/api/apps", HTTP_AUTHORIZATION=f"token {raw}")
    locked = call(strict(), "post", LOCK, {"reason": "release"}, HTTP_AUTHORIZATION=f"Token {raw}")

    assert listed.status_code == 200 and listed.json()[0]["slug"] == "shop"
    assert locked.status_code == 201, locked.content
    assert call(strict(), "delete", LOCK, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 204


def test_a_ci_token_posts_its_statuses_in_either_form(app, ci_token):
    for scheme in ("Bearer", "token"):
        response = call(strict(), "post", STATUSES, {"state": "success", "context": "ci"},
                        HTTP_AUTHORIZATION=f"{scheme} {ci_token}")  # fmt: skip
        assert response.status_code == 201, response.content


def test_a_ci_token_used_for_anything_else_is_a_403_audited_as_denied(app, ci_token):
    for method, path, body in [c for c in CALLS if c[1] != STATUSES]:
        before = AuditEvent.objects.filter(action="denied").count()

        response = call(strict(), method, path, body, HTTP_AUTHORIZATION=f"token {ci_token}")

        assert response.status_code == 403, (method, path, response.content)
        assert "CI token" in response.json()["detail"]
        [event] = AuditEvent.objects.filter(action="denied").order_by("id")[before:]
        assert (event.actor, event.app, event.source) == ("app_admin", "shop", "api")
        assert f"{method.upper()} {path}" in event.detail and ci_token not in event.detail
    assert not Lock.objects.exists()


def test_a_session_reads_without_a_csrf_token(app, users):
    client = strict()
    client.force_login(users["viewer"])

    assert client.get("/api/apps").status_code == 200


def test_a_session_write_without_its_csrf_token_is_refused_and_audited(app, users):
    client = strict()
    client.force_login(users["deployer"])

    response = call(client, "post", LOCK, {"reason": "forged"})

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Lock.objects.exists()
    [event] = AuditEvent.objects.filter(action="denied")
    assert (event.actor, event.source) == ("deployer", "api")


def test_a_session_write_with_its_csrf_token_goes_through(app, users):
    client = strict()
    client.force_login(users["deployer"])
    client.get("/accounts/profile/")  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    response = call(client, "post", LOCK, {"reason": "release"}, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 201, response.content
    assert Lock.objects.filter(reason="release").exists()


def test_a_session_does_not_lend_a_ci_token_more_than_its_statuses(app, users, ci_token):
    client = strict()
    client.force_login(users["app_admin"])

    response = call(client, "get", "/api/apps", HTTP_AUTHORIZATION=f"Bearer {ci_token}")

    assert response.status_code == 403


def test_no_token_is_logged_whatever_its_scheme(app, users, settings, caplog):
    settings.DEBUG = True
    _, raw = ApiToken.issue(user=users["viewer"], name="script")
    with caplog.at_level(logging.DEBUG):
        for header in (f"Basic {raw}", f"token {raw}", f"Bearer {raw}", f"Weird {raw}"):
            call(strict(), "get", "/api/apps", HTTP_AUTHORIZATION=header)

    assert raw not in caplog.text
    assert not AuditEvent.objects.filter(detail__contains=raw).exists()
