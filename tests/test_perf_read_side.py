"""The read side stays flat as history grows: insights in a fixed number of queries with lead
times stored at the finish, the audit export streaming every row, audit pages without a count,
and ancestry on the main line answered from what the fetch indexed instead of a git walk."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Deployment
from deployments.web import insights
from portal.audit.models import AuditEvent
from portal.audit.queries import EXPORT_CHUNK
from projects import ancestry, mirror
from tests.gitutil import git
from tests.helpers import page


def finished_rows(app, sha: str, count: int, *, lead: int | None = 3600) -> None:
    target = app.targets.get()
    now = timezone.now()
    Deployment.objects.bulk_create(
        Deployment(
            app=app,
            target=target,
            sha=sha,
            ref="main",
            status="failed" if n % 7 == 3 else "succeeded",
            requested_by_name="deployer",
            finished_at=now - timedelta(hours=n),
            lead_time_seconds=lead,
        )  # fmt: skip
        for n in range(count)
    )


def insights_queries(client) -> tuple[int, int]:
    """Queries of a cold view (nothing kept of past weeks) and of a warm one, app and target."""
    counts = []
    cache.clear()
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/apps/shop/insights/").status_code == 200
            assert client.get("/apps/shop/insights/?target=staging").status_code == 200
        counts.append(len(captured))
    return counts[0], counts[1]


def test_the_insights_page_makes_as_many_queries_for_three_hundred_deployments_as_for_ten(app, repo, browser_client):
    mirror.sync(app)
    client = browser_client("viewer")
    finished_rows(app, repo.shas[-1], 10)
    small = insights_queries(client)
    finished_rows(app, repo.shas[-1], 290)

    assert insights_queries(client) == small


def test_ended_weeks_are_summed_once_and_the_current_week_read_fresh(app, repo):
    mirror.sync(app)
    finished_rows(app, repo.shas[-1], 300)  # 300 hours: the current week and the two before it
    cold = insights.compute(app)
    finished_rows(app, repo.shas[-1], 1)  # one more, finished now

    warm = insights.compute(app)
    assert warm.deploys == cold.deploys + 1  # the current week is read from the database on every view
    cache.clear()
    recount = insights.compute(app)
    figures = [(w.start, w.deploys, w.failures, w.lead_hours, w.restore_hours) for w in recount.weeks]
    assert figures == [(w.start, w.deploys, w.failures, w.lead_hours, w.restore_hours) for w in warm.weeks]
    assert (warm.lead_hours, warm.failure_rate) == (recount.lead_hours, recount.failure_rate)


def test_a_successful_deployment_stores_its_lead_time_when_it_finishes(app, deploy, repo):
    deployment = deploy(repo.shas[-1])
    deployment.refresh_from_db()
    committed = mirror.commit(app, repo.shas[-1]).date

    assert deployment.status == "succeeded"
    expected = (deployment.finished_at - committed).total_seconds()
    assert deployment.lead_time_seconds is not None
    assert abs(deployment.lead_time_seconds - expected) <= 1


def test_lead_times_missing_from_older_rows_are_filled_with_one_git_call(app, repo, browser_client, git_calls):
    mirror.sync(app)
    target = app.targets.get()
    now = timezone.now()
    for n, sha in enumerate(repo.shas):
        Deployment.objects.create(app=app, target=target, sha=sha, ref=sha, status="succeeded",
                                  requested_by_name="deployer", finished_at=now - timedelta(hours=n))  # fmt: skip
    git_calls.clear()

    assert browser_client("viewer").get("/apps/shop/insights/").status_code == 200

    assert not Deployment.objects.filter(lead_time_seconds__isnull=True).exists()
    assert len([call for call in git_calls if "log" in call]) == 1  # all commits in one batched git log


def test_the_csv_export_streams_every_event_in_order_with_its_cells_intact(db, staff):
    count = EXPORT_CHUNK + 7  # past one chunk: the keyset step between chunks loses and repeats nothing
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=f"user{n}",
            action="deployment.requested",
            source="web",
            app="shop",
            target="staging",
            deployment=n,
            detail=f'=Deployment {n}, "quoted"',
        )  # fmt: skip
        for n in range(count)
    )
    response = staff.get("/audit/export.csv")

    assert response.status_code == 200 and response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "actor", "action", "source", "ip", "app", "target", "deployment", "detail"]
    body = [row for row in rows[1:] if row[2] == "deployment.requested"]  # signing in is audited too
    assert len(body) == count
    assert [int(row[7]) for row in body] == list(range(count - 1, -1, -1))  # newest first, each once
    newest = AuditEvent.objects.filter(action="deployment.requested").latest("id")
    assert body[0][0] == newest.at.isoformat() and body[0][0].endswith("+00:00")
    assert body[0][1:4] == [f"user{count - 1}", "deployment.requested", "web"]
    assert body[0][8] == f'\'=Deployment {count - 1}, "quoted"'  # a formula is defused, quotes survive


def test_audit_pages_say_whether_older_and_newer_pages_exist_without_counting(db, staff):
    AuditEvent.objects.bulk_create(
        AuditEvent(actor="someone", action="auth.login", source="web", detail=f"event {n}") for n in range(120)
    )
    with CaptureQueriesContext(connection) as captured:
        first = page(staff, "/audit/")
    last = page(staff, "/audit/?page=3")
    middle = page(staff, "/audit/?page=2")

    assert not [q for q in captured if "COUNT(" in q["sql"].upper()]
    assert "Older →" in first and "← Newer" not in first and "event 119" in first
    assert "Older →" in middle and "← Newer" in middle
    assert "← Newer" in last and "Older →" not in last and "event 0<" in last
    assert "page=2" in last


def test_the_api_audit_pages_still_answer_fifty_events_a_page(db, api, users):
    AuditEvent.objects.bulk_create(
        AuditEvent(actor="someone", action="auth.login", source="web", detail=f"event {n}") for n in range(70)
    )
    client = api("staff")

    assert len(client.get("/api/audit?page=1").json()) == 50
    assert len(client.get("/api/audit?page=2").json()) == 20


def test_ancestry_on_the_main_line_is_answered_without_git_and_counts_merged_commits(app, repo, git_calls):
    repo.branch("feature", repo.shas[1])
    repo.checkout("feature")
    side = [repo.commit(f"Side {n}", {f"side{n}.txt": "x"}) for n in range(3)]
    repo.checkout("main")
    git("merge", "--no-ff", "--quiet", "-m", "Merge feature", "feature", cwd=repo.path)
    merge = git("rev-parse", "HEAD", cwd=repo.path)
    head = repo.commit("After the merge", {"after.txt": "y"})
    mirror.sync(app)
    line = [*repo.shas[:-1], merge, head]  # the first-parent chain, oldest first
    expected = {
        (old, new): int(git("rev-list", "--count", f"{old}..{new}", cwd=repo.path)) for old in line for new in line
    }
    git_calls.clear()

    for (old, new), count in expected.items():
        assert mirror.count_between(app, old, new) == count
        assert mirror.is_ancestor(app, old, new) == (line.index(old) <= line.index(new))
    assert mirror.ancestors_among(app, repo.shas[2], line) == set(repo.shas[:3])
    assert git_calls == []
    # A side commit is off the indexed line: git still answers it, and rightly.
    assert mirror.is_ancestor(app, side[0], head) is True
    assert mirror.count_between(app, side[0], head) == 7  # side[1:], shas[2:], the merge, the head


def test_a_rewritten_branch_gets_a_fresh_index_that_forgets_the_old_line(app, repo):
    mirror.sync(app)
    before = ancestry.places(app_id=app.pk, shas=[repo.shas[-1]])
    git("reset", "--hard", "--quiet", repo.shas[1], cwd=repo.path)
    rewritten = repo.commit("Rewritten", {"app.txt": "other\n"})
    mirror.sync(app)

    assert repo.shas[-2] in before or repo.shas[-1] in before
    assert mirror.is_ancestor(app, repo.shas[1], rewritten) is True
    assert mirror.count_between(app, repo.shas[1], rewritten) == 1
    assert ancestry.places(app_id=app.pk, shas=[repo.shas[3]]) == {}  # the old line's commit is gone


def test_the_dashboard_polls_the_state_of_its_own_page_of_apps(db, users, browser_client):
    from tests.test_dashboard_scale import make_apps

    apps = make_apps(60)  # two pages of 50
    client = browser_client("staff")
    html = page(client, "/")
    version = re.search(r'data-live-version="([^"]+)"', html)[1]
    url = re.search(r'data-live-state="([^"]+)"', html)[1].replace("&amp;", "&")

    assert client.get(url).json()["version"] == version  # the page and its poll agree
    Deployment.objects.create(app=apps[-1], target=apps[-1].targets.get(), sha="e" * 40, ref="main",
                              requested_by_name="d")  # fmt: skip
    assert client.get(url).json()["version"] == version  # page 2's apps are not this page's state
    Deployment.objects.create(app=apps[0], target=apps[0].targets.get(), sha="e" * 40, ref="main",
                              requested_by_name="d")  # fmt: skip
    assert client.get(url).json()["version"] != version
