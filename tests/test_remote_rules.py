"""Where code may go: app admins push only where staff allow, and no URL lends the worker's reach."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from portal.audit.models import AuditEvent
from projects import mirror
from projects.models import Access, App, Role, Target
from tests.gitutil import Repo, bare_remote, remote_head


@pytest.fixture
def blog(db, tmp_path: Path) -> App:
    """A second app with its own admin, who must not reach the shop's remotes."""
    other = Repo(tmp_path / "blog-repo", commits=2)
    blog = App.objects.create(slug="blog", name="Blog", repo_url=str(other.path))
    admin = get_user_model().objects.create_user("blog_admin", password="pw-blog-admin-Long1")
    Access.objects.create(app=blog, user=admin, role=Role.ADMIN)
    return blog


def patch(client, path: str, body: dict):
    return client.call("patch", path, body)


def test_an_app_admin_cannot_point_a_target_at_another_apps_remote(app, blog, api, remote):
    from portal.models import ApiToken
    from tests.helpers import Api

    _, raw = ApiToken.issue(user=get_user_model().objects.get(username="blog_admin"), name="t")
    before = remote_head(remote)

    answer = Api(raw).post("/api/apps/blog/targets", {"slug": "steal", "name": "Steal", "remote_url": str(remote)})

    assert answer.status_code == 403
    assert "allowed_remotes" in answer.json()["detail"]
    assert not Target.objects.filter(app=blog).exists()
    assert remote_head(remote) == before
    assert AuditEvent.objects.filter(action="denied", app="blog", actor="blog_admin").exists()


def test_an_app_admin_may_use_remotes_inside_the_patterns_staff_set(app, api):
    assert patch(api("staff"), "/api/apps/shop", {"allowed_remotes": ["https://git.example.com/shop/*"]}).json()[
        "allowed_remotes"
    ] == ["https://git.example.com/shop/*"]

    inside = api("app_admin").post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Prod", "remote_url": "https://git.example.com/shop/prod.git"}
    )
    outside = api("app_admin").post(
        "/api/apps/shop/targets", {"slug": "qa", "name": "QA", "remote_url": "https://git.example.com/blog/qa.git"}
    )

    assert inside.status_code == 201
    assert outside.status_code == 403
    assert list(app.targets.values_list("slug", flat=True).order_by("slug")) == ["prod", "staging"]


def test_the_installations_allowed_remotes_apply_to_every_app(app, api, settings):
    settings.ALLOWED_REMOTES = ["ssh://git@git.example.com/*"]

    answer = api("app_admin").post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Prod", "remote_url": "ssh://git@git.example.com/shop.git"}
    )

    assert answer.status_code == 201


def test_a_heroku_app_needs_no_pattern(app, api):
    body = {"slug": "prod", "name": "Prod", "heroku_app": "shop-prod"}

    answer = api("app_admin").post("/api/apps/shop/targets", body)

    assert answer.status_code == 201


def test_only_staff_set_where_an_apps_targets_may_push(app, api):
    answer = patch(api("app_admin"), "/api/apps/shop", {"allowed_remotes": ["*"]})

    assert answer.status_code == 403
    app.refresh_from_db()
    assert app.allowed_remotes == []


def test_an_app_admin_cannot_move_a_target_outside_the_patterns(app, api, tmp_path):
    elsewhere = bare_remote(tmp_path / "elsewhere.git")

    answer = patch(api("app_admin"), "/api/apps/shop/targets/staging", {"remote_url": str(elsewhere)})
    renamed = patch(api("app_admin"), "/api/apps/shop/targets/staging", {"name": "Stage"})

    assert answer.status_code == 403
    assert renamed.status_code == 200 and renamed.json()["name"] == "Stage"
    assert Target.objects.get(slug="staging").remote_url != str(elsewhere)


def test_two_targets_never_share_a_remote(app, blog, api, remote):
    answer = api("staff").post("/api/apps/blog/targets", {"slug": "same", "name": "Same", "remote_url": str(remote)})
    heroku = api("staff").post("/api/apps/shop/targets", {"slug": "prod", "name": "Prod", "heroku_app": "shop-prod"})
    again = api("staff").post("/api/apps/blog/targets", {"slug": "prod", "name": "Prod", "heroku_app": "shop-prod"})

    assert answer.status_code == 409
    assert heroku.status_code == 201
    assert again.status_code == 409
    assert not Target.objects.filter(app=blog).exists()


@pytest.mark.parametrize("path", ["/proc/self/cwd/../1.git", "/dev/shm/remote.git", "/sys/kernel/x.git"])
def test_kernel_folders_are_no_remote_even_for_staff(app, api, path):
    answer = api("staff").post("/api/apps/shop/targets", {"slug": "odd", "name": "Odd", "remote_url": path})

    assert answer.status_code == 400
    assert "/proc" in answer.json()["detail"]


def test_a_symlink_into_the_mirrors_is_judged_where_it_leads(app, api, data_dir, tmp_path):
    (data_dir / "mirrors").mkdir(exist_ok=True)
    link = tmp_path / "innocent"
    os.symlink(data_dir / "mirrors", link)

    answer = api("staff").post("/api/apps/shop/targets", {"slug": "odd", "name": "Odd", "remote_url": f"{link}/1.git"})

    assert answer.status_code == 400
    assert "DATA_DIR" in answer.json()["detail"]


def test_the_worker_refuses_a_kernel_path_that_reached_the_database(app, api, worker, remote):
    Target.objects.filter(slug="staging").update(remote_url="/proc/self/cwd/../remote.git")

    answer = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"}))
    done = api("deployer").get(f"/api/deployments/{answer.json()['id']}").json()

    assert done["status"] == "failed"
    assert "/proc" in done["log"]


@pytest.mark.parametrize(
    "url", ["https://ghp_secret@github.com/acme/shop.git", "https://user:pass@github.com/acme/shop.git"]
)
def test_credentials_inside_an_https_url_are_refused(app, api, url):
    made = api("staff").post("/api/apps", {"slug": "leaky", "name": "Leaky", "repo_url": url})
    target = api("staff").post("/api/apps/shop/targets", {"slug": "leaky", "name": "Leaky", "remote_url": url})

    assert made.status_code == 400 and "user name" in made.json()["detail"]
    assert target.status_code == 400
    assert not App.objects.filter(slug="leaky").exists()


def test_an_ssh_url_keeps_its_user(app, api):
    answer = api("staff").post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Prod", "remote_url": "git@git.example.com:acme/shop.git"}
    )

    assert answer.status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/api/apps/shop/commits?page=99999999999999999999",
        "/api/apps/shop/targets/staging/deployments?page=99999999999999999999",
        "/api/audit?page=99999999999999999999",
    ],
)
def test_a_huge_page_number_is_a_400_with_a_sentence(app, api, path):
    answer = api("staff").get(path)

    assert answer.status_code == 400
    assert "page" in answer.json()["detail"]


def test_the_app_page_survives_a_huge_page_number(app, browser_client):
    mirror.sync(app)  # no first clone in a background thread that outlives the test

    assert browser_client("viewer").get("/apps/shop/?page=99999999999999999999").status_code == 200
