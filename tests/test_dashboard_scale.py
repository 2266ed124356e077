"""The dashboard (/) and GET /api/apps as apps grow: a fixed number of queries, no git on a warm
cache, and a page at a time with the user's own apps first."""

from __future__ import annotations

import re

from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Deployment, LogLine, Status
from projects import mirror
from projects.models import Access, App, Role, Target
from tests.helpers import page

SHA = "a" * 40


def make_apps(count: int, *, targets: int = 1, prefix: str = "app") -> list[App]:
    """`count` apps, each target with a live deployment, a failed one, one queued and one running."""
    apps = App.objects.bulk_create(
        App(slug=f"{prefix}-{n:03}", name=f"{prefix.title()} {n:03}", repo_url="/nowhere") for n in range(count)
    )
    made = Target.objects.bulk_create(
        Target(app=app, slug=f"t{n}", name=f"T{n}", remote_url="/nowhere", live_sha=SHA)
        for app in apps
        for n in range(targets)
    )
    done = {"started_at": "2026-01-01T10:00Z", "finished_at": "2026-01-01T10:01Z"}
    rows = [
        Deployment(
            app_id=target.app_id, target=target, sha=sha, ref="main", requested_by_name="d", status=status, **when
        )
        for target in made
        for sha, status, when in (
            (SHA, Status.SUCCEEDED, done),
            ("b" * 40, Status.FAILED, done),
            (SHA, Status.RUNNING, {"started_at": "2026-01-01T11:00Z"}),
            (SHA, Status.QUEUED, {}),
        )
    ]
    Deployment.objects.bulk_create(rows)
    LogLine.objects.bulk_create(
        LogLine(deployment=d, n=1, text="-----> Building") for d in rows if d.status == Status.RUNNING
    )
    return apps


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def app_cards(html: str) -> list[str]:
    return re.findall(r'<section class="card app-card" aria-labelledby="app-([^"]+)"', html)


def test_the_dashboard_makes_as_many_queries_for_thirty_apps_as_for_three(db, users, browser_client):
    client = browser_client("staff")
    make_apps(3)
    small = queries_for(client, "/")
    make_apps(27, targets=3, prefix="more")

    large = queries_for(client, "/")

    assert large == small, (small, large)
    assert "-----&gt; Building" in page(client, "/")


def test_the_app_list_api_makes_as_many_queries_for_thirty_apps_as_for_three(db, users, api):
    caller = api("staff")
    make_apps(3)
    caller.get("/api/apps")  # the token's first use of the day is written down once
    with CaptureQueriesContext(connection) as small:
        assert len(caller.get("/api/apps").json()) == 3
    make_apps(27, targets=3, prefix="more")
    with CaptureQueriesContext(connection) as large:
        assert len(caller.get("/api/apps").json()) == 30

    assert len(large) == len(small)


def test_a_warm_dashboard_starts_no_git_process(app, deploy, browser_client, git_calls, repo):
    deployment = deploy()
    Target.objects.create(app=app, slug="qa", name="QA", remote_url="/nowhere", live_sha=deployment.sha)
    subject = mirror.commit(app, deployment.sha).message
    client = browser_client("viewer")
    cache.clear()  # finishing the deployment already read its commit (its lead time)

    git_calls.clear()
    cold = page(client, "/")
    assert len(git_calls) == 1  # both targets' subjects read in one git call
    git_calls.clear()
    warm = page(client, "/")

    assert git_calls == []
    assert warm.count(subject) == cold.count(subject) == 2


def test_the_dashboard_shows_fifty_apps_a_page_with_my_apps_first(db, users, browser_client):
    staff = users["staff"]
    apps = make_apps(60)
    team = Group.objects.create(name="ops")
    staff.groups.add(team)
    Access.objects.create(app=apps[-1], user=staff, role=Role.VIEWER)
    Access.objects.create(app=apps[-2], team=team, role=Role.VIEWER)
    client = browser_client("staff")

    first, second = page(client, "/"), page(client, "/?page=2")

    assert len(app_cards(first)) == 50 and len(app_cards(second)) == 10
    assert app_cards(first)[:3] == ["app-058", "app-059", "app-000"]
    assert set(app_cards(first)) | set(app_cards(second)) == {app.slug for app in apps}
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    assert app_cards(page(client, "/?page=999")) == app_cards(second)


def test_the_app_list_api_answers_a_hundred_apps_a_page(db, users, api):
    make_apps(120)
    caller = api("staff")

    first, second = caller.get("/api/apps").json(), caller.get("/api/apps?page=2").json()

    assert isinstance(first, list) and len(first) == 100 and len(second) == 20
    assert [a["slug"] for a in first + second] == [f"app-{n:03}" for n in range(120)]
    assert caller.get("/api/apps?page=1").json() == first
    assert caller.get("/api/apps?page=99999999999").json() == []
