"""What's going out (confirmation and deployment pages) and promoting a live commit to another target."""

from __future__ import annotations

from pathlib import Path

from deployments.models import Deployment
from deployments.web.outgoing import compare_url
from projects import mirror
from projects.models import App, Target
from tests.gitutil import bare_remote, remote_head

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


def test_the_confirmation_lists_the_commits_going_out_with_their_authors(app, deploy, repo, browser_client):
    deploy(repo.shas[1])
    repo.commit("Add the search box", {"search.txt": "x"}, author="Grace Hopper")
    mirror.sync(app)

    page = browser_client("deployer").get("/apps/shop/targets/staging/deploy/?ref=main").content.decode()

    assert "What&#x27;s going out" in page or "What's going out" in page
    assert "Add the search box" in page and "Grace Hopper" in page
    assert "Commit number 5" in page and "Commit number 3" in page
    assert "Commit number 2" not in page.split("going out")[-1]


def test_github_hosted_repositories_get_a_compare_link(app, deploy, repo, browser_client):
    first = deploy(repo.shas[1])
    App.objects.filter(pk=app.pk).update(repo_url="https://github.com/acme/shop.git")
    second = deploy(repo.shas[-1])  # a full sha: no fetch from the unreachable host

    confirm = browser_client("deployer").get(f"/apps/shop/targets/staging/deploy/?ref={repo.shas[0]}").content
    page = browser_client("viewer").get(f"/deployments/{second.pk}/").content.decode()

    assert f"https://github.com/acme/shop/compare/{first.sha}...{second.sha}" in page
    assert b"https://github.com/acme/shop/compare/" not in confirm  # a rollback lists what goes back instead
    assert compare_url("git@github.com:acme/shop.git", "a", "b") == "https://github.com/acme/shop/compare/a...b"
    assert compare_url("https://gitlab.com/acme/shop.git", "a", "b") == ""


def test_promote_offers_the_commit_live_on_staging_to_production(app, deploy, repo, browser_client, tmp_path: Path):
    prod_remote = bare_remote(tmp_path / "prod.git")
    Target.objects.create(app=app, slug="prod", name="Production", remote_url=str(prod_remote), position=1)
    staged = deploy(repo.shas[-2])
    link = f"/apps/shop/targets/prod/deploy/?ref={staged.sha}"

    app_page = browser_client("deployer").get("/apps/shop/").content.decode()
    deployment_page = browser_client("deployer").get(f"/deployments/{staged.pk}/").content.decode()

    assert link in app_page and "Promote to Production" in app_page
    assert link in deployment_page
    assert link not in browser_client("viewer").get("/apps/shop/").content.decode()
    promoted = browser_client("deployer").post("/apps/shop/targets/prod/deploy/", {"ref": staged.sha})
    assert promoted.status_code == 302
    assert Deployment.objects.filter(target__slug="prod", sha=staged.sha).exists()
    assert remote_head(prod_remote) == ""  # queued; the worker pushes it
