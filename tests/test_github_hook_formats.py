"""POST /hooks/github/{app} in both of GitHub's content types, signed as GitHub signs them, up to 25 MB.

GitHub's default content type for a new hook is `application/x-www-form-urlencoded`: the JSON
goes in a `payload` field and the signature covers the raw form body. The payloads below are
shaped as GitHub's webhook documentation shows them (trimmed of fields Bartender never reads).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlencode

import pytest
from django.test import Client

from deployments.delivery.github import MAX_BODY
from projects import mirror
from projects.models import CommitStatus
from tests.cd_helpers import SECRET, drain

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
FORMATS = [JSON, FORM]
DJANGO_UPLOAD_LIMIT = 2_621_440  # Django's default DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB

REPOSITORY = {
    "id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": "shop", "full_name": "acme/shop",
    "private": True, "owner": {"login": "acme", "id": 21031067, "type": "Organization"},
    "html_url": "https://github.com/acme/shop", "url": "https://api.github.com/repos/acme/shop",
    "clone_url": "https://github.com/acme/shop.git", "ssh_url": "git@github.com:acme/shop.git",
    "default_branch": "main", "pushed_at": 1736935200, "created_at": 1557933565,
}  # fmt: skip
SENDER = {"login": "octocat", "id": 583231, "type": "User", "site_admin": False}


def encode(payload: dict, content_type: str) -> bytes:
    """The body GitHub sends for `payload` in `content_type`."""
    text = json.dumps(payload)
    return (urlencode({"payload": text}) if content_type == FORM else text).encode()


def deliver(event: str, body: bytes, content_type: str, *, secret: str = SECRET, signature: str | None = None,
            app: str = "shop"):  # fmt: skip
    if signature is None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Client().post(
        f"/hooks/github/{app}",
        data=body,
        content_type=content_type,
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        HTTP_X_GITHUB_HOOK_ID="30",
        HTTP_USER_AGENT="GitHub-Hookshot/044aadd",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )


@pytest.fixture
def hooked(app, api):
    response = api("app_admin").put("/api/apps/shop/github-webhook", {"secret": SECRET})
    assert response.status_code == 204, response.content
    return app


def ping(content_type: str) -> dict:
    return {
        "zen": "Non-blocking is better than blocking.",
        "hook_id": 30,
        "hook": {
            "type": "Repository", "id": 30, "name": "web", "active": True, "events": ["push", "status", "check_run"],
            "config": {"content_type": "form" if content_type == FORM else "json", "insecure_ssl": "0",
                       "url": "https://bartender.example.com/hooks/github/shop"},
            "updated_at": "2025-01-15T10:00:00Z", "created_at": "2025-01-15T10:00:00Z",
            "url": "https://api.github.com/repos/acme/shop/hooks/30",
            "ping_url": "https://api.github.com/repos/acme/shop/hooks/30/pings",
            "deliveries_url": "https://api.github.com/repos/acme/shop/hooks/30/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        },
        "repository": REPOSITORY,
        "sender": SENDER,
    }  # fmt: skip


def commit(sha: str, message: str) -> dict:
    return {
        "id": sha, "tree_id": "9c2b3e9e4f1d7b2c4b8a0e1f3d5c7b9a1e3f5d7c", "distinct": True, "message": message,
        "timestamp": "2025-01-15T10:00:00+01:00", "url": f"https://github.com/acme/shop/commit/{sha}",
        "author": {"name": "Zoë Développeuse", "email": "zoe@example.com", "username": "zoe"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": [], "removed": [], "modified": ["app.txt"],
    }  # fmt: skip


def push(before: str, after: str, *, commits: int = 1, message: str = "Café ☕: ship it") -> dict:
    listed = [commit(after, message) for _ in range(commits)]
    return {
        "ref": "refs/heads/main", "before": before, "after": after, "created": False, "deleted": False,
        "forced": False, "base_ref": None, "compare": f"https://github.com/acme/shop/compare/{before[:12]}...{after[:12]}",
        "commits": listed, "head_commit": listed[-1], "repository": REPOSITORY,
        "pusher": {"name": "zoe", "email": "zoe@example.com"}, "sender": SENDER,
    }  # fmt: skip


def status(sha: str, state: str, context: str = "ci/tests") -> dict:
    return {
        "id": 6805126730, "sha": sha, "name": "acme/shop", "context": context, "state": state,
        "target_url": "https://ci.example.com/builds/9", "description": "Tests passed — 412 of 412",
        "avatar_url": None,
        "commit": {"sha": sha, "node_id": "C_kwDOAAAAAA", "html_url": f"https://github.com/acme/shop/commit/{sha}",
                   "commit": {"message": "Commit number 5", "author": {"name": "Test Author"}}},
        "branches": [{"name": "main", "commit": {"sha": sha}, "protected": False}],
        "created_at": "2025-01-15T10:05:00Z", "updated_at": "2025-01-15T10:05:00Z",
        "repository": REPOSITORY, "sender": SENDER,
    }  # fmt: skip


def check_run(sha: str, name: str, status_: str, conclusion: str | None) -> dict:
    return {
        "action": "completed" if status_ == "completed" else "created",
        "check_run": {
            "id": 4, "name": name, "node_id": "MDg6Q2hlY2tSdW40", "head_sha": sha, "external_id": "",
            "url": "https://api.github.com/repos/acme/shop/check-runs/4",
            "html_url": "https://github.com/acme/shop/runs/4", "details_url": "https://ci.example.com/checks/4",
            "status": status_, "conclusion": conclusion,
            "started_at": "2025-01-15T10:00:00Z",
            "completed_at": "2025-01-15T10:03:00Z" if status_ == "completed" else None,
            "output": {"title": "Lint found nothing", "summary": "", "text": None, "annotations_count": 0},
            "check_suite": {"id": 5, "head_branch": "main", "head_sha": sha},
            "app": {"id": 1, "slug": "ci-app", "name": "CI"}, "pull_requests": [],
        },
        "repository": REPOSITORY,
        "sender": SENDER,
    }  # fmt: skip


def padded_push(repo, size: int) -> dict:
    """A push event whose JSON is exactly `size` bytes: a commit message carries the padding."""
    event = push(repo.shas[-2], repo.shas[-1], message="")
    missing = size - len(json.dumps(event).encode())
    event["head_commit"] = dict(event["head_commit"], message="x" * missing)
    assert len(json.dumps(event).encode()) == size
    return event


@pytest.mark.parametrize("content_type", FORMATS)
def test_a_ping_is_answered_200_with_the_hook_id(hooked, content_type):
    logger, seen = logging.getLogger("bartender.github"), []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        response = deliver("ping", encode(ping(content_type), content_type), content_type)
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["hook_id"] == 30 and answer["zen"] == "Non-blocking is better than blocking."
    assert "30" in answer["detail"]
    assert any("hook 30" in line and "shop" in line for line in seen), seen


@pytest.mark.parametrize("content_type", FORMATS)
def test_a_status_event_records_a_ci_status(hooked, repo, content_type):
    sha = repo.shas[-1]

    response = deliver("status", encode(status(sha, "success"), content_type), content_type)

    assert response.status_code == 201, response.content
    recorded = CommitStatus.objects.get()
    assert (recorded.sha, recorded.context, recorded.state) == (sha, "ci/tests", "success")
    assert recorded.description == "Tests passed — 412 of 412"
    assert recorded.target_url == "https://ci.example.com/builds/9"


@pytest.mark.parametrize("content_type", FORMATS)
def test_a_check_run_event_records_a_status_named_after_the_check(hooked, repo, content_type):
    sha = repo.shas[-1]

    started = deliver("check_run", encode(check_run(sha, "lint", "in_progress", None), content_type), content_type)
    assert started.status_code == 201, started.content
    assert CommitStatus.objects.get(context="lint").state == "pending"

    done = deliver("check_run", encode(check_run(sha, "lint", "completed", "failure"), content_type), content_type)
    assert done.status_code == 201, done.content
    assert CommitStatus.objects.get(context="lint").state == "failure"


@pytest.mark.parametrize("content_type", FORMATS)
def test_a_push_event_fetches_the_mirror(hooked, repo, content_type, django_capture_on_commit_callbacks):
    mirror.sync(hooked)
    new = repo.commit("Pushed to GitHub", {"new.txt": "x"})

    response = deliver("push", encode(push(repo.shas[-2], new), content_type), content_type)
    drain(django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    assert mirror.has_commit(hooked, new)


@pytest.mark.parametrize("content_type", FORMATS)
def test_a_push_larger_than_djangos_upload_limit_is_accepted(
    hooked, repo, settings, content_type, django_capture_on_commit_callbacks
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = DJANGO_UPLOAD_LIMIT
    mirror.sync(hooked)
    new = repo.commit("A big merge", {"big.txt": "y"})
    body = encode(push(repo.shas[-2], new, commits=6000), content_type)
    assert len(body) > 3 * 1024 * 1024

    response = deliver("push", body, content_type)
    drain(django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    assert mirror.has_commit(hooked, new)


def test_a_payload_of_exactly_25_mb_is_accepted(hooked, repo, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = DJANGO_UPLOAD_LIMIT
    body = json.dumps(padded_push(repo, MAX_BODY)).encode()
    assert len(body) == MAX_BODY == 25 * 1024 * 1024

    response = deliver("push", body, JSON)

    assert response.status_code == 202, response.content


@pytest.mark.parametrize("content_type", FORMATS)
def test_a_payload_one_byte_over_25_mb_is_413_with_a_sentence(hooked, repo, content_type):
    body = json.dumps(padded_push(repo, MAX_BODY + 1)).encode()
    if content_type == FORM:
        body = b"payload=" + body[: MAX_BODY + 1 - len(b"payload=")]
    assert len(body) == MAX_BODY + 1

    response = deliver("push", body, content_type)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "25 MB" in response.json()["detail"]


def test_an_oversized_payload_for_an_unknown_app_is_413_too(hooked, repo):
    body = json.dumps(padded_push(repo, MAX_BODY + 1)).encode()

    assert deliver("push", body, JSON, app="nope").status_code == 413


def test_a_form_delivery_signed_over_the_json_instead_of_the_form_body_is_403(hooked, repo):
    event = status(repo.shas[-1], "success")
    over_json = "sha256=" + hmac.new(SECRET.encode(), json.dumps(event).encode(), hashlib.sha256).hexdigest()

    response = deliver("status", encode(event, FORM), FORM, signature=over_json)

    assert response.status_code == 403
    assert not CommitStatus.objects.exists()


@pytest.mark.parametrize("content_type", FORMATS)
def test_an_unsigned_delivery_is_403_in_either_content_type(hooked, repo, content_type):
    response = deliver("ping", encode(ping(content_type), content_type), content_type, signature="")

    assert response.status_code == 403
    assert "X-Hub-Signature-256" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b"zen=Keep+it+logically+awesome.", "payload"),
        (b"payload=%7Bnot+json", "not JSON"),
        (b"payload=%5B1%2C2%5D", "not a JSON object"),
        ("payload=caf\u00e9".encode(), "not URL-encoded"),
    ],
)
def test_a_signed_form_without_a_json_payload_is_a_400_that_says_why(hooked, body, sentence):
    response = deliver("status", body, FORM)

    assert response.status_code == 400
    assert sentence in response.json()["detail"]
