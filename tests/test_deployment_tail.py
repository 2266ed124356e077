"""The deployment page's tail: new lines, status and facts every second, from the database alone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.models import Deployment, LogLine
from projects import mirror
from projects.models import Target
from tests.test_browser_pages import browser, open_as, site  # noqa: F401 - fixtures: Chromium, a live server


def running(app, users, repo) -> Deployment:
    """A deployment the worker is pushing: three commits going out, two lines printed so far."""
    found = Deployment.objects.create(
        app=app, target=Target.objects.get(slug="staging"), sha=repo.shas[-1], ref="main",
        previous_sha=repo.shas[1], status="running", started_at=timezone.now() - timedelta(seconds=30),
        heartbeat_at=timezone.now(), requested_by=users["deployer"], requested_by_name="deployer",
    )  # fmt: skip
    LogLine.objects.bulk_create(
        [LogLine(deployment=found, n=1, text="-----> Building"), LogLine(deployment=found, n=2, text="Compiling")]
    )
    return found


def deployed(api, worker) -> Deployment:
    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"}))
    assert response.status_code == 202, response.content
    return Deployment.objects.get(pk=response.json()["id"])


def tail(client, deployment: Deployment, after: int = 0) -> dict:
    response = client.get(f"/deployments/{deployment.pk}/tail?after={after}")
    assert response.status_code == 200, response.status_code
    return response.json()


def test_it_sends_the_lines_after_the_last_one_with_the_running_status_and_facts(app, users, repo, browser_client):
    mirror.sync(app)
    deployment = running(app, users, repo)
    client = browser_client("deployer")

    first = tail(client, deployment)
    LogLine.objects.create(deployment=deployment, n=3, text="-----> Launching")
    second = tail(client, deployment, after=first["after"])

    assert first["after"] == 2 and "Building" in first["html"] and "Compiling" in first["html"]
    assert second["after"] == 3 and "Launching" in second["html"] and "Building" not in second["html"]
    assert second["status"] == "running" and not second["finished"] and not second["more"]
    assert "running for" in second["facts"] and "Cancel this deployment" in second["facts"]
    assert second["title"] == f"⟳ #{deployment.pk} running · Shop to Staging"
    assert second["changes_heading"] == "What is going out to Staging"


def test_it_sends_the_outcome_when_the_deployment_finishes(app, api, worker, browser_client, repo):
    deployment = deployed(api, worker)

    answer = tail(browser_client("deployer"), deployment)

    assert answer["status"] == "succeeded" and answer["finished"]
    assert "remote: Verifying deploy... done." in answer["html"]
    assert f"Redeploy {repo.shas[-1][:7]} to Staging" in answer["facts"]
    assert "Cancel this deployment" not in answer["facts"]
    assert answer["title"] == f"✔ #{deployment.pk} succeeded · Shop to Staging"


def test_the_cancel_button_it_sends_works_with_csrf_checks_on(app, users, repo):
    deployment = running(app, users, repo)
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["deployer"])

    facts = tail(client, deployment)["facts"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', facts).group(1)
    response = client.post(f"/deployments/{deployment.pk}/cancel/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert Deployment.objects.get(pk=deployment.pk).cancel_requested


def test_a_rollbacks_heading_follows_its_status(app, users, repo, browser_client):
    mirror.sync(app)
    rollback = running(app, users, repo)
    Deployment.objects.filter(pk=rollback.pk).update(kind="rollback", sha=repo.shas[1], previous_sha=repo.shas[-1])
    client = browser_client("viewer")

    while_running = tail(client, rollback)["changes_heading"]
    Deployment.objects.filter(pk=rollback.pk, status="running").update(status="failed", finished_at=timezone.now())

    assert while_running == "What this rollback is taking off Staging"
    assert tail(client, rollback)["changes_heading"] == "Nothing changed on Staging; this deployment tried to take off:"


def test_the_page_shows_the_commits_message_and_the_tail_lets_it_keep_that_row(app, users, repo, browser_client):
    mirror.sync(app)
    deployment = running(app, users, repo)
    client = browser_client("viewer")

    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    facts = tail(client, deployment)["facts"]

    assert f'<dd id="commit" data-keep><code>{repo.shas[-1][:7]}</code> Commit number 5' in page
    assert f'<dd id="commit" data-keep><code>{repo.shas[-1][:7]}</code>' in facts


def test_polling_starts_no_git_process(app, api, worker, users, repo, browser_client, git_calls):
    finished = deployed(api, worker)
    going = running(app, users, repo)
    assert mirror.exists(app)  # a page render would read the commit and what changed from it
    client = browser_client("deployer")
    git_calls.clear()

    answers = [tail(client, deployment, after=after) for deployment in (going, finished) for after in (0, 1, 2)]

    assert [answer["status"] for answer in answers] == ["running"] * 3 + ["succeeded"] * 3
    assert git_calls == []


def test_the_full_page_still_reads_the_commit_from_git(app, users, repo, browser_client, git_calls):
    mirror.sync(app)
    deployment = running(app, users, repo)
    git_calls.clear()

    page = browser_client("viewer").get(f"/deployments/{deployment.pk}/").content.decode()

    assert "Commit number 5" in page and "What is going out to Staging" in page
    assert git_calls  # the counter sees git: the test above proves something


@pytest.mark.browser
@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_the_page_keeps_the_commits_message_while_the_facts_change(open_as, site, app, users, repo):  # noqa: F811
    deployment = running(app, users, repo)
    page = open_as("viewer")
    page.goto(site + f"/deployments/{deployment.pk}/")
    assert "Commit number 5" in page.locator("#commit").inner_text()

    Deployment.objects.filter(pk=deployment.pk, status="running").update(
        status="failed", finished_at=timezone.now(), reason="The remote hung up."
    )
    page.locator("#reason", has_text="The remote hung up.").wait_for()  # the facts came from the tail

    assert "failed" in page.locator("#status").inner_text()
    assert "Commit number 5" in page.locator("#commit").inner_text()
    assert page.locator("#commit").count() == 1
