"""A target's page (/apps/A/targets/T/): its deployment history, one click from the app page."""

from __future__ import annotations

from projects import mirror
from tests.gitutil import remote_head
from tests.helpers import page


def test_the_target_page_shows_history_with_rollback_marks(app, deploy, browser_client, repo, remote):
    deploy()
    deploy(repo.shas[0])

    html = page(browser_client("viewer"), "/apps/shop/targets/staging/")

    assert "rollback" in html
    assert remote_head(remote) == repo.shas[0]
    assert html.count("succeeded") >= 2


def test_the_deploy_history_of_a_target_is_one_click_from_the_app_page(app, deploy, browser_client):
    deploy()
    mirror.sync(app)

    body = browser_client("viewer").get("/apps/shop/").content.decode()
    assert 'href="/apps/shop/targets/staging/"' in body
    history = browser_client("viewer").get("/apps/shop/targets/staging/").content.decode()
    assert "deployer" in history and "succeeded" in history
    assert " s</td>" in history  # the duration
