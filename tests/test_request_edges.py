"""Edges of requesting: branch names as user data, broken JSON, and Idempotency-Key races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment
from projects.models import App, Target
from tests.helpers import Api

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


def test_an_option_like_default_branch_is_refused_naming_the_field(api, repo):
    for branch in ("--upload-pack=touch /tmp/canary", "ma in", "a..b", "0" * 40):
        response = api("staff").post(
            "/api/apps", {"slug": "b1", "name": "B", "repo_url": str(repo.path), "default_branch": branch}
        )
        assert response.status_code == 400, branch
        assert response.json()["detail"].startswith("default_branch:")
    assert not App.objects.filter(slug="b1").exists()


def test_an_invalid_auto_deploy_branch_is_refused(app, api, tmp_path):
    response = api("app_admin").post(
        "/api/apps/shop/targets",
        {"slug": "auto", "name": "Auto", "remote_url": str(tmp_path), "auto_deploy_branch": "--exec=x"},
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("auto_deploy_branch:")
    assert not Target.objects.filter(slug="auto").exists()


def test_a_broken_json_body_is_a_400_with_a_sentence(app, api):
    response = api("deployer").post(DEPLOYS, '{"ref": "main"')
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is not valid JSON."}


def test_an_idempotency_key_older_than_a_day_makes_a_new_deployment(app, api):
    client = api("deployer")
    first = client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="build-41").json()
    Deployment.objects.filter(pk=first["id"]).update(created_at=timezone.now() - timedelta(hours=25))

    second = client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="build-41").json()

    assert second["id"] != first["id"]
    assert client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="build-41").json()["id"] == second["id"]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_attempts_with_one_key_make_one_deployment(app, users):
    from django.db import connection

    from portal.models import ApiToken

    _, raw = ApiToken.issue(user=users["deployer"], name="race")
    from projects import mirror

    mirror.sync(app)  # resolving must not be what serialises the requests
    start = threading.Barrier(6)
    answers: list[tuple[int, int]] = []

    def attempt() -> None:
        try:
            start.wait(timeout=10)
            response = Api(raw).post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="deploy-7")
            answers.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == 6
    assert {status for status, _ in answers} == {202}
    assert len({deployment_id for _, deployment_id in answers}) == 1
    assert Deployment.objects.count() == 1


def test_a_branch_that_moved_deploys_its_new_head(app, api, worker, repo):
    first = worker(lambda: api("deployer").post(DEPLOYS, {"ref": "main"})).json()
    newer = repo.commit("Pushed by CI just now", {"ci.txt": "1"})

    second = worker(lambda: api("deployer").post(DEPLOYS, {"ref": "main"})).json()

    assert first["sha"] == repo.shas[-2]
    assert second["sha"] == newer
    assert second["kind"] == "deploy"
    assert api("viewer").get("/api/apps/shop/commits?limit=1").json()[0]["sha"] == newer


def test_commit_dates_are_answered_in_utc(app, api, repo):
    from tests.gitutil import git

    (repo.path / "tz.txt").write_text("x")
    git("add", "tz.txt", cwd=repo.path)
    git("commit", "-qm", "Made east of Greenwich", cwd=repo.path, env={"GIT_AUTHOR_DATE": "2024-01-02T03:04:05+0200"})

    newest = api("viewer").get("/api/apps/shop/commits?limit=1").json()[0]

    assert newest["message"] == "Made east of Greenwich"
    assert newest["date"] == "2024-01-02T01:04:05Z"


def test_a_lock_until_without_an_offset_is_read_as_utc_and_answered_in_utc(app, api):
    naive = api("deployer").post(
        "/api/apps/shop/targets/staging/lock", {"reason": "freeze", "until": "2099-01-01T00:00:00"}
    )
    assert naive.status_code == 201
    assert naive.json()["until"] == "2099-01-01T00:00:00Z"
    api("deployer").delete("/api/apps/shop/targets/staging/lock")

    offset = api("deployer").post(
        "/api/apps/shop/targets/staging/lock", {"reason": "freeze", "until": "2099-01-01T02:00:00+02:00"}
    )
    assert offset.json()["until"] == "2099-01-01T00:00:00Z"


def test_unknown_api_paths_and_methods_answer_json(db, api):
    missing = api("viewer").get("/api/no-such-thing")
    assert missing.status_code == 404
    assert "detail" in missing.json()
    wrong_method = api("viewer").call("patch", "/api/apps", {})
    assert wrong_method.status_code == 405
    assert "detail" in wrong_method.json()


def test_a_full_sha_in_upper_case_resolves(app, api, repo):
    response = api("deployer").post(DEPLOYS, {"ref": repo.shas[2].upper()})
    assert response.status_code == 202
    assert response.json()["sha"] == repo.shas[2]


def test_an_idempotency_key_reused_for_another_target_is_a_conflict(app, api, tmp_path):
    from tests.gitutil import bare_remote

    Target.objects.create(app=app, slug="prod", name="Prod", remote_url=str(bare_remote(tmp_path / "prod.git")))
    client = api("deployer")
    assert client.post(DEPLOYS, {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="k1").status_code == 202

    other = client.post("/api/apps/shop/targets/prod/deployments", {"ref": "main"}, HTTP_IDEMPOTENCY_KEY="k1")

    assert other.status_code == 409
    assert "another target" in other.json()["detail"]
    assert Deployment.objects.count() == 1


def test_creating_an_existing_user_is_a_conflict_whatever_the_password(users, api):
    response = api("staff").post("/api/users", {"username": "viewer", "password": "1"})
    assert response.status_code == 409


def test_cancel_answers_the_whole_deployment(app, api):
    created = api("deployer").post(DEPLOYS, {"ref": "main"}).json()
    answer = api("deployer").post(f"/api/deployments/{created['id']}/cancel").json()
    assert answer["status"] == "cancelled"
    assert {"id", "sha", "target", "app", "kind", "requested_by", "created_at", "finished_at", "log"} <= set(answer)
