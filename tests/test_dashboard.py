"""The dashboard (/): what is live per app, what is deploying now, the filter, and the live state it polls."""

from __future__ import annotations

from deployments import locks
from deployments.models import Deployment, LogLine
from portal.actor import Actor
from projects.models import Access, Role, Target
from tests.helpers import page, request_deployment


def test_the_dashboard_shows_what_is_live_and_the_last_outcome(app, deploy, browser_client, repo):
    deploy()

    html = page(browser_client("viewer"), "/")

    assert "Shop" in html
    assert repo.shas[-1][:7] in html
    assert "succeeded" in html
    assert "Shop" not in page(browser_client("outsider"), "/")


def test_the_dashboard_shows_a_running_deployment_with_its_last_line_and_the_lock(app, users, browser_client):
    deployment = request_deployment(users)
    Deployment.objects.filter(pk=deployment.pk).update(status="running", started_at=deployment.created_at)
    LogLine.objects.create(deployment=deployment, n=1, text="\x1b[1m-----> Compiling assets\x1b[0m")
    locks.lock_target(
        actor=Actor(user=users["deployer"], source="web"), target=Target.objects.get(slug="staging"), reason="Freeze"
    )

    body = page(browser_client("viewer"), "/")

    assert f"#{deployment.pk} deploying" in body
    assert "-----&gt; Compiling assets" in body and "\x1b" not in body
    assert "Locked by deployer: Freeze" in body


def test_the_dashboard_filters_apps_by_name(app, users, browser_client, repo):
    other = type(app).objects.create(slug="blog", name="Blog", repo_url=str(repo.path))
    Access.objects.create(app=other, user=users["viewer"], role=Role.VIEWER)
    client = browser_client("viewer")

    assert "Blog" in page(client, "/") and "Shop" in page(client, "/")
    filtered = page(client, "/?q=sho")
    assert 'id="app-shop"' in filtered and 'id="app-blog"' not in filtered


def test_the_live_state_changes_when_a_deployment_is_queued_starts_or_ends(app, users, browser_client):
    client = browser_client("viewer")
    before = client.get("/live/state?app=shop").json()["version"]

    deployment = request_deployment(users)
    queued = client.get("/live/state?app=shop").json()["version"]
    Deployment.objects.filter(pk=deployment.pk).update(status="running")
    running = client.get("/live/state").json()["version"]
    running_again = client.get("/live/state").json()["version"]
    Deployment.objects.filter(pk=deployment.pk).update(status="succeeded")
    ended = client.get("/live/state").json()["version"]

    assert len({before, queued, running, ended}) == 4
    assert running == running_again  # nothing changed: the pages do not refetch
    outsider = browser_client("outsider")
    assert (
        outsider.get("/live/state?app=shop").json()["version"] == outsider.get("/live/state?app=none").json()["version"]
    )
