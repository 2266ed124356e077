"""CI statuses: posted by CI tokens or app admins, combined per commit, shown in the commit list."""

from __future__ import annotations

from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import App, CommitStatus
from tests.helpers import Api


def statuses(sha: str, app: str = "shop") -> str:
    return f"/api/apps/{app}/commits/{sha}/statuses"


def commit_ci(api, sha: str) -> dict | None:
    rows = api("viewer").get("/api/apps/shop/commits").json()
    return next(row["ci"] for row in rows if row["sha"] == sha)


def test_an_app_admin_posts_statuses_and_the_commit_list_combines_them(app, api, repo):
    head = repo.shas[-1]
    first = api("app_admin").post(
        statuses(head), {"state": "pending", "context": "ci/tests", "target_url": "https://ci.example.com/1"}
    )
    api("app_admin").post(statuses(head), {"state": "success", "context": "ci/lint"})

    assert first.status_code == 201, first.content
    assert commit_ci(api, head) == {
        "state": "pending",
        "contexts": [
            {"context": "ci/lint", "state": "success", "target_url": ""},
            {"context": "ci/tests", "state": "pending", "target_url": "https://ci.example.com/1"},
        ],
    }
    assert commit_ci(api, repo.shas[0]) is None


def test_the_latest_state_of_a_context_wins(app, api, repo):
    head = repo.shas[-1]
    for state in ("pending", "failure", "success"):
        api("app_admin").post(statuses(head), {"state": state, "context": "ci/tests"})

    assert commit_ci(api, head)["state"] == "success"
    assert CommitStatus.objects.filter(sha=head).count() == 1
    api("app_admin").post(statuses(head), {"state": "error", "context": "ci/tests"})
    assert commit_ci(api, head)["state"] == "failure"


def test_a_status_may_name_a_commit_the_mirror_has_not_fetched_yet(app, api):
    response = api("app_admin").post(statuses("ab" * 20), {"state": "success", "context": "ci"})
    assert response.status_code == 201
    assert CommitStatus.objects.filter(sha="ab" * 20, state="success").exists()


def test_a_malformed_sha_state_or_url_is_a_400_naming_the_field(app, api, repo):
    head = repo.shas[-1]
    cases = [
        (statuses("abc1234"), {"state": "success", "context": "ci"}, "sha:"),
        (statuses(head), {"state": "green", "context": "ci"}, "state:"),
        (statuses(head), {"state": "success", "context": " "}, "context:"),
        (statuses(head), {"state": "success", "context": "ci", "target_url": "javascript:alert(1)"}, "target_url:"),
    ]
    for path, body, field in cases:
        response = api("app_admin").post(path, body)
        assert response.status_code == 400, body
        assert response.json()["detail"].startswith(field)
    assert not CommitStatus.objects.exists()


def test_a_viewer_may_not_post_statuses_and_the_refusal_is_audited(app, api, repo):
    response = api("viewer").post(statuses(repo.shas[-1]), {"state": "success", "context": "ci"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="denied", actor="viewer").exists()
    assert not CommitStatus.objects.exists()


def test_an_app_admin_creates_a_ci_token_that_can_only_post_statuses_to_its_app(app, api, repo):
    response = api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "GitHub Actions"})
    assert response.status_code == 201, response.content
    ci_token = Api(response.json()["token"])
    assert AuditEvent.objects.filter(action="token.created", app="shop").exists()

    posted = ci_token.post(statuses(repo.shas[-1]), {"state": "success", "context": "ci/tests"})

    assert posted.status_code == 201
    assert ci_token.get("/api/apps").status_code == 403
    assert ci_token.get("/api/apps/shop/commits").status_code == 403
    assert ci_token.post("/api/apps/shop/targets/staging/deployments", {"ref": "main"}).status_code == 403
    assert ci_token.post("/api/apps/shop/ci-tokens", {"name": "more"}).status_code == 403
    App.objects.create(slug="other", name="Other", repo_url=str(repo.path))
    assert ci_token.post(statuses(repo.shas[-1], "other"), {"state": "success", "context": "ci"}).status_code == 404


def test_only_app_admins_create_ci_tokens(app, api):
    response = api("deployer").post("/api/apps/shop/ci-tokens", {"name": "CI"})
    assert response.status_code == 403
    assert not ApiToken.objects.filter(ci_app__isnull=False).exists()
