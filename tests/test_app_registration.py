"""Registering an app: its default branch comes from the repository, and polling finds it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from deployments import tasks
from deployments.models import Deployment
from projects import mirror
from projects.models import App, Target
from tests.gitutil import Repo, git
from tests.helpers import run_worker

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


def test_an_apps_default_branch_is_the_repositorys_when_not_given(app, api, tmp_path: Path):
    legacy = Repo(tmp_path / "legacy", commits=2)
    git("branch", "-m", "main", "master", cwd=legacy.path)

    created = api("staff").post("/api/apps", {"slug": "legacy", "name": "Legacy", "repo_url": str(legacy.path)})

    assert created.status_code == 201, created.content
    assert created.json()["default_branch"] == "master"
    assert App.objects.get(slug="legacy").default_branch == "master"


def test_a_bare_repository_whose_head_names_no_branch_uses_its_only_branch(app, api, repo, tmp_path: Path):
    bare = tmp_path / "bare.git"
    git("clone", "--quiet", "--bare", str(repo.path), str(bare))
    git("symbolic-ref", "HEAD", "refs/heads/nothing-here", cwd=bare)

    created = api("staff").post("/api/apps", {"slug": "bare", "name": "Bare", "repo_url": str(bare)})

    assert created.status_code == 201, created.content
    assert created.json()["default_branch"] == "main"


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


def test_registering_an_app_clones_it_in_a_worker(app, api, repo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api("staff").post("/api/apps", {"slug": "fresh", "name": "Fresh", "repo_url": str(repo.path)})
    fresh = App.objects.get(slug="fresh")
    assert not mirror.exists(fresh)

    run_worker()

    assert mirror.exists(fresh)
    assert mirror.resolve(fresh, "main") == repo.shas[-1]


def test_the_app_page_follows_a_first_clone_and_knows_when_it_lands(app, browser_client, data_dir):
    under_way = data_dir / "mirrors" / f"{app.pk}.git.4242.tmp"
    under_way.mkdir(parents=True)
    (under_way / "HEAD").write_text("ref: refs/heads/main\n")
    (under_way / "objects.pack").write_bytes(b"x" * 2048)
    viewer = browser_client("viewer")
    before = viewer.get("/live/state?app=shop&lines=0").json()["version"]

    body = viewer.get("/apps/shop/").content.decode()

    assert "The first clone of the repository is running: started" in body
    assert "2.0\xa0KB received so far" in body
    assert "data-live-reload" in body
    assert not any(t.name == f"mirror-{app.pk}" for t in threading.enumerate())  # the page starts none
    under_way.rename(data_dir / "elsewhere")
    mirror.sync(app)
    assert viewer.get("/live/state?app=shop&lines=0").json()["version"] != before


@pytest.mark.django_db(transaction=True)
def test_a_deploy_request_during_the_first_clone_waits_for_it(app, api, users):
    deployer = api("deployer")
    answers: list[int] = []
    with mirror._locked(app):  # what the worker's first clone holds while it runs
        asking = threading.Thread(
            target=lambda: answers.append(deployer.post(DEPLOYS, {"ref": "main"}).status_code), daemon=True
        )
        asking.start()
        asking.join(timeout=0.5)
        assert asking.is_alive() and answers == []  # waiting, not refused
    asking.join(timeout=60)

    assert answers == [202]
    assert Deployment.objects.get().sha == mirror.resolve(app, "main")
