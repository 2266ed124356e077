"""POST /hooks/github/{app}: signed GitHub events become CI statuses and mirror refreshes."""

from __future__ import annotations

from projects import mirror
from projects.models import App, CommitStatus
from tests.cd_helpers import SECRET, drain, github


def set_secret(api) -> None:
    response = api("app_admin").put("/api/apps/shop/github-webhook", {"secret": SECRET})
    assert response.status_code == 204, response.content


def status_event(sha: str, state: str, updated_at: str = "2025-01-01T10:00:00Z") -> dict:
    return {"sha": sha, "state": state, "context": "ci/tests", "target_url": "https://ci.example.com/9",
            "description": "Tests", "updated_at": updated_at}  # fmt: skip


def test_a_signed_status_event_records_a_ci_status(app, api, repo):
    set_secret(api)

    response = github("status", status_event(repo.shas[-1], "success"))

    assert response.status_code == 201, response.content
    status = CommitStatus.objects.get()
    assert (status.sha, status.context, status.state) == (repo.shas[-1], "ci/tests", "success")
    assert status.target_url == "https://ci.example.com/9"


def test_an_unsigned_or_wrongly_signed_event_is_403_and_records_nothing(app, api, repo):
    set_secret(api)
    event = status_event(repo.shas[-1], "success")

    assert github("status", event, signature="").status_code == 403
    assert github("status", event, secret="not-the-secret-at-all").status_code == 403
    assert github("status", event, signature="sha256=" + "0" * 64).status_code == 403
    assert not CommitStatus.objects.exists()


def test_a_non_ascii_signature_is_403_and_records_nothing(app, api, repo):
    set_secret(api)

    response = github("status", status_event(repo.shas[-1], "success"), signature="sha256=éé")

    assert response.status_code == 403
    assert "does not match" in response.json()["detail"]
    assert not CommitStatus.objects.exists()


def test_an_app_without_a_secret_accepts_no_events(app, repo):
    assert github("status", status_event(repo.shas[-1], "success"), secret="").status_code == 403
    assert not CommitStatus.objects.exists()


def test_the_secret_is_write_only(app, api):
    set_secret(api)
    assert App.objects.get(slug="shop").github_secret == SECRET
    assert SECRET not in api("app_admin").get("/api/apps").content.decode()
    assert SECRET not in App.objects.get(slug="shop").github_secret_encrypted
    assert api("deployer").put("/api/apps/shop/github-webhook", {"secret": "x" * 20}).status_code == 403


def test_replaying_events_changes_nothing_and_an_older_event_never_wins(app, api, repo):
    set_secret(api)
    sha = repo.shas[-1]
    github("status", status_event(sha, "pending", "2025-01-01T10:00:00Z"))
    github("status", status_event(sha, "success", "2025-01-01T10:05:00Z"))

    github("status", status_event(sha, "success", "2025-01-01T10:05:00Z"))
    github("status", status_event(sha, "pending", "2025-01-01T10:00:00Z"))

    assert list(CommitStatus.objects.values_list("state", flat=True)) == ["success"]


def test_check_runs_map_to_statuses_named_after_the_check(app, api, repo):
    set_secret(api)
    sha = repo.shas[-1]
    cases = [
        ("queued", None, "pending"), ("in_progress", None, "pending"), ("completed", "success", "success"),
        ("completed", "neutral", "success"), ("completed", "skipped", "success"),
        ("completed", "failure", "failure"), ("completed", "timed_out", "failure"),
        ("completed", "action_required", "failure"), ("completed", "cancelled", "error"),
        ("completed", "stale", "error"),
    ]  # fmt: skip
    for n, (state, conclusion, expected) in enumerate(cases):
        run = {"head_sha": sha, "name": f"check-{n}", "status": state, "conclusion": conclusion,
               "details_url": f"https://ci.example.com/checks/{n}"}  # fmt: skip
        assert github("check_run", {"action": "completed", "check_run": run}).status_code == 201
        assert CommitStatus.objects.get(context=f"check-{n}").state == expected, (state, conclusion)


def test_a_push_event_fetches_the_mirror_at_once(app, api, repo, django_capture_on_commit_callbacks):
    set_secret(api)
    mirror.sync(app)
    new = repo.commit("Pushed to GitHub", {"new.txt": "x"})
    assert not mirror.has_commit(app, new)

    response = github("push", {"ref": "refs/heads/main", "after": new})
    drain(django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert mirror.has_commit(app, new)


def test_a_ping_is_answered_and_an_unknown_app_answers_like_a_bad_signature(app, api):
    set_secret(api)
    assert github("ping", {"zen": "Keep it logically awesome."}).status_code == 200

    unknown = github("ping", {}, app="nope")
    wrong = github("ping", {}, secret="not-the-secret-at-all")

    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())
    assert unknown.status_code == 403
