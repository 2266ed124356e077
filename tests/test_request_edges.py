"""Edges of requesting: branch names as user data, broken JSON, and Idempotency-Key races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment
from projects.models import App, Target
from tests.conftest import Api

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
