"""The four DORA keys per app and target, and the page that draws them as SVG."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deployments.models import Deployment
from deployments.web import insights
from projects import mirror
from projects.models import Target


def finished(app, target, sha, *, at, status="succeeded", kind="deploy", previous="") -> Deployment:
    deployment = Deployment.objects.create(
        app=app, target=target, sha=sha, ref=sha, kind=kind, status=status, requested_by_name="deployer",
        previous_sha=previous,
    )  # fmt: skip
    Deployment.objects.filter(pk=deployment.pk).update(started_at=at - timedelta(seconds=30), finished_at=at)
    return deployment


@pytest.fixture
def history(app, repo):
    """Three good deploys, a failure and the rollback that restored it, hours after the commits."""
    mirror.sync(app)
    staging = app.targets.get()
    t0 = mirror.commit(app, repo.shas[-1]).date
    finished(app, staging, repo.shas[1], at=t0 + timedelta(hours=2))
    finished(app, staging, repo.shas[3], at=t0 + timedelta(hours=4), previous=repo.shas[1])
    finished(app, staging, repo.shas[4], at=t0 + timedelta(hours=5), status="failed", previous=repo.shas[3])
    finished(app, staging, repo.shas[2], at=t0 + timedelta(hours=6), kind="rollback", previous=repo.shas[3])
    return t0


def test_it_counts_successful_deployments_per_week(app, history):
    found = insights.compute(app, now=history + timedelta(hours=7))
    assert found.deploys == 3
    assert sum(week.deploys for week in found.weeks) == 3
    assert len(found.weeks) == insights.WEEKS
    assert found.per_week == pytest.approx(3 / insights.WEEKS)


def test_lead_time_is_the_median_from_each_commit_to_its_going_live(app, history):
    found = insights.compute(app, now=history + timedelta(hours=7))
    # Each deployment's own commit: shas[1] after 2 h, shas[3] after 4 h. Rollbacks do not count.
    assert found.lead_hours == pytest.approx(3, abs=0.05)


def test_change_failure_rate_counts_failures_and_rollbacks(app, history):
    found = insights.compute(app, now=history + timedelta(hours=7))
    assert found.failure_rate == pytest.approx(2 / 4)


def test_time_to_restore_runs_from_a_failure_to_the_next_success(app, history):
    found = insights.compute(app, now=history + timedelta(hours=7))
    assert found.restore_hours == pytest.approx(1)


def test_a_target_only_counts_its_own_deployments(app, history, remote):
    production = Target.objects.create(app=app, slug="production", name="Production", remote_url=str(remote))
    assert insights.compute(app, production, now=history + timedelta(hours=7)).deploys == 0
    assert insights.compute(app, app.targets.get(slug="staging"), now=history + timedelta(hours=7)).deploys == 3


def test_deployments_older_than_the_window_are_left_out(app, history):
    later = history + timedelta(weeks=insights.WEEKS + 1)
    found = insights.compute(app, now=later)
    assert found.deploys == 0
    assert found.failure_rate is None and found.lead_hours is None


def test_the_insights_page_draws_four_svg_charts_for_the_app_and_each_target(app, history, browser_client):
    client = browser_client("viewer")

    html = client.get("/apps/shop/insights/").content.decode()
    per_target = client.get("/apps/shop/insights/?target=staging").content.decode()

    assert html.count("<svg") == 4
    for title in ("Deployment frequency", "Lead time for changes", "Change failure rate", "Time to restore"):
        assert title in html
    assert "<rect" in html and "Week of" in html
    assert 'aria-current="page">Staging' in per_target
    assert "http" not in html.split("<main", 1)[1].replace('xmlns="http://www.w3.org/2000/svg"', "").split("</main>")[0]
    assert browser_client("outsider").get("/apps/shop/insights/").status_code == 404


def test_bars_are_scaled_to_the_tallest_week(app, history):
    found = insights.compute(app, now=history + timedelta(hours=7))
    frequency = found.charts[0]
    heights = [bar.height for bar in frequency.bars]
    assert max(heights) > 0
    assert all(bar.y >= 0 and bar.y + bar.height <= frequency.height for bar in frequency.bars)
