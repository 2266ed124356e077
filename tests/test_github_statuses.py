"""POST /api/repos/{owner}/{repo}/statuses/{sha}: GitHub's commit-status call, for the app built
from that GitHub repository, so a CI step written for GitHub needs only a new base URL and token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Access, App, CommitStatus, Role

SHA = "3a1f0c9e5b7d2a4c6e8f0a1b3c5d7e9f1a2b3c4d"


def github_repo(app: App, url: str = "git@github.com:acme/shop.git") -> App:
    App.objects.filter(pk=app.pk).update(repo_url=url)
    app.refresh_from_db()
    return app


def ci_token(api, app: str = "shop") -> str:
    response = api("app_admin").post(f"/api/apps/{app}/ci-tokens", {"name": "GitHub Actions"})
    assert response.status_code == 201, response.content
    return response.json()["token"]


def user_token(users, role: str) -> str:
    return ApiToken.issue(user=users[role], name="ci-step")[1]


def post(token: str, path: str, body: dict | str):
    """What a CI step that talks to GitHub's REST API sends, base URL swapped for /api."""
    return Client().post(
        path,
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"token {token}",
        HTTP_ACCEPT="application/vnd.github+json",
        HTTP_X_GITHUB_API_VERSION="2022-11-28",
    )


def statuses(owner: str = "acme", repo: str = "shop", sha: str = SHA) -> str:
    return f"/api/repos/{owner}/{repo}/statuses/{sha}"


def test_a_ci_token_posts_a_github_shaped_status_and_gets_githubs_answer(app, api):
    github_repo(app)
    body = {"state": "success", "target_url": "https://ci.example.com/builds/9",
            "description": "The build succeeded!", "context": "continuous-integration/jenkins"}  # fmt: skip

    response = post(ci_token(api), statuses(), body)

    assert response.status_code == 201, response.content
    answer = response.json()
    assert {k: answer[k] for k in body} == body
    assert isinstance(answer["id"], int)
    assert answer["url"].endswith(statuses())
    assert answer["created_at"] and answer["updated_at"]
    stored = CommitStatus.objects.get(app=app, sha=SHA)
    assert (stored.context, stored.state, stored.target_url) == (body["context"], "success", body["target_url"])


def test_the_context_defaults_to_default_and_target_url_and_description_may_be_null(app, api):
    github_repo(app)
    token = ci_token(api)

    left_out = post(token, statuses(), {"state": "pending"})
    nulls = post(token, statuses(sha="b" * 40), {"state": "failure", "context": None, "target_url": None,
                                                  "description": None})  # fmt: skip

    for response in (left_out, nulls):
        assert response.status_code == 201, response.content
        answer = response.json()
        assert (answer["context"], answer["target_url"], answer["description"]) == ("default", None, None)
    assert set(CommitStatus.objects.values_list("sha", "context", "state")) == {
        (SHA, "default", "pending"),
        ("b" * 40, "default", "failure"),
    }


def test_a_description_over_140_characters_is_refused_naming_the_field(app, api):
    github_repo(app)
    token = ci_token(api)

    refused = post(token, statuses(), {"state": "success", "description": "x" * 141})
    accepted = post(token, statuses(), {"state": "success", "description": "x" * 140})

    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("description:")
    assert accepted.status_code == 201, accepted.content
    assert CommitStatus.objects.get().description == "x" * 140


def test_a_bad_state_or_sha_is_a_400_naming_the_field(app, api):
    github_repo(app)
    token = ci_token(api)

    assert post(token, statuses(), {"state": "green"}).json()["detail"].startswith("state:")
    assert post(token, statuses(sha="abc1234"), {"state": "success"}).json()["detail"].startswith("sha:")
    assert post(token, statuses(), {}).json()["detail"] == "state: is required."
    assert not CommitStatus.objects.exists()


@pytest.mark.parametrize(
    "repo_url",
    [
        "https://github.com/acme/shop",
        "https://github.com/acme/shop.git",
        "git@github.com:acme/shop.git",
        "ssh://git@github.com/acme/shop.git",
        "https://github.com/Acme/Shop.git",
    ],
)
def test_every_form_of_a_github_url_names_the_app_whatever_the_case(app, api, repo_url):
    github_repo(app, repo_url)

    response = post(ci_token(api), statuses(owner="ACME", repo="shop"), {"state": "success"})

    assert response.status_code == 201, response.content
    assert CommitStatus.objects.filter(app=app, sha=SHA).exists()


def test_an_unknown_repository_is_a_404(app, api):
    github_repo(app)
    token = ci_token(api)

    for path in (statuses(repo="elsewhere"), statuses(owner="someone"), statuses(repo="sho")):
        response = post(token, path, {"state": "success"})
        assert response.status_code == 404, path
        assert response.json()["detail"]
    assert not CommitStatus.objects.exists()


def test_an_app_built_elsewhere_is_not_named_by_a_lookalike_github_path(app, api):
    github_repo(app, "https://gitlab.com/acme/shop.git")

    assert post(ci_token(api), statuses(), {"state": "success"}).status_code == 404


def test_a_ci_token_of_another_app_sees_no_repository_but_its_own(app, api, users):
    github_repo(app)
    other = App.objects.create(slug="blog", name="Blog", repo_url="https://github.com/acme/blog")
    Access.objects.create(app=other, user=users["app_admin"], role=Role.ADMIN)
    blog_token = ci_token(api, "blog")

    assert post(blog_token, statuses(), {"state": "success"}).status_code == 404
    assert post(blog_token, statuses(repo="blog"), {"state": "success"}).status_code == 201
    assert list(CommitStatus.objects.values_list("app__slug", flat=True)) == ["blog"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("outsider", 404), ("viewer", 403), ("deployer", 403), ("app_admin", 201), ("staff", 201)],
)
def test_people_post_as_they_may_on_the_app_scoped_call(app, users, role, expected):
    github_repo(app)

    response = post(user_token(users, role), statuses(), {"state": "success"})

    assert response.status_code == expected, response.content
    assert CommitStatus.objects.exists() == (expected == 201)
    denied = AuditEvent.objects.filter(action="denied", actor=role, app="shop").count()
    assert denied == (1 if expected == 403 else 0)
    posted = AuditEvent.objects.filter(action="ci.status_posted", actor=role, app="shop").count()
    assert posted == (1 if expected == 201 else 0)


def test_an_outsider_cannot_tell_a_hidden_repository_from_a_missing_one(app, users):
    github_repo(app)
    token = user_token(users, "outsider")

    hidden, missing = (
        post(token, statuses(), {"state": "success"}),
        post(token, statuses(repo="nope"), {"state": "success"}),
    )

    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
    assert not AuditEvent.objects.filter(action="denied").exists()


def test_without_a_token_the_call_is_a_401(app):
    github_repo(app)

    response = Client().post(statuses(), json.dumps({"state": "success"}), content_type="application/json")

    assert response.status_code == 401


def test_every_app_built_from_the_repository_gets_the_status(app, api, users):
    github_repo(app)
    worker = App.objects.create(slug="shop-worker", name="Shop worker", repo_url="https://github.com/acme/shop.git")
    Access.objects.create(app=worker, user=users["app_admin"], role=Role.ADMIN)

    response = post(user_token(users, "app_admin"), statuses(), {"state": "success", "context": "ci/tests"})

    assert response.status_code == 201, response.content
    assert sorted(CommitStatus.objects.values_list("app__slug", flat=True)) == ["shop", "shop-worker"]


def test_a_shared_repository_gets_the_status_only_on_the_apps_the_caller_administers(app, users):
    github_repo(app)
    docs = App.objects.create(slug="docs", name="Docs", repo_url="https://github.com/acme/shop")
    Access.objects.create(app=docs, user=users["app_admin"], role=Role.VIEWER)

    response = post(user_token(users, "app_admin"), statuses(), {"state": "success"})

    assert response.status_code == 201, response.content
    assert list(CommitStatus.objects.values_list("app__slug", flat=True)) == ["shop"]
    assert not AuditEvent.objects.filter(action="denied").exists()
