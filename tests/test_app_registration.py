"""Registering an app: its default branch comes from the repository, and polling finds it."""

from __future__ import annotations

from pathlib import Path

from deployments import tasks
from projects.models import App, Target
from tests.gitutil import Repo, git


def test_an_apps_default_branch_is_the_repositorys_when_not_given(app, api, tmp_path: Path):
    legacy = Repo(tmp_path / "legacy", commits=2)
    git("branch", "-m", "main", "master", cwd=legacy.path)

    created = api("staff").post("/api/apps", {"slug": "legacy", "name": "Legacy", "repo_url": str(legacy.path)})

    assert created.status_code == 201, created.content
    assert created.json()["default_branch"] == "master"
    assert App.objects.get(slug="legacy").default_branch == "master"


def test_a_given_default_branch_is_kept(app, api, repo):
    body = {"slug": "given", "name": "Given", "repo_url": str(repo.path), "default_branch": "release"}

    assert api("staff").post("/api/apps", body).json()["default_branch"] == "release"


def test_an_unreadable_repository_needs_its_branch_given(app, api, tmp_path: Path):
    body = {"slug": "gone", "name": "Gone", "repo_url": str(tmp_path / "nothing-here.git")}

    answer = api("staff").post("/api/apps", body)

    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("default_branch:")
    assert not App.objects.filter(slug="gone").exists()


def test_polling_finds_an_app_with_one_auto_deploying_target_among_others(app, remote, tmp_path):
    Target.objects.filter(slug="staging").update(auto_deploy_branch="main")
    Target.objects.create(app=app, slug="production", name="Production", remote_url=str(tmp_path / "prod.git"))

    assert tasks.every_minute() == 1
