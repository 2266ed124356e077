"""The deployment page (/deployments/N/): what it says in each state, its live tail, and the log download."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from deployments import locks
from deployments.models import LogLine
from portal.actor import Actor
from projects import mirror
from projects.models import Target
from tests.gitutil import bare_remote
from tests.helpers import deployment_row, log_lines, page, request_deployment


def test_the_deployment_page_shows_the_output_and_outcome(app, deploy, browser_client, repo):
    deployment = deploy()

    html = page(browser_client("viewer"), f"/deployments/{deployment.pk}/")

    assert "succeeded" in html
    assert "remote: Verifying deploy... done." in html
    assert repo.shas[-1][:7] in html
    assert f'data-url="/deployments/{deployment.pk}/tail"' in html  # the page polls the log for new lines


def test_a_deployment_page_says_whether_its_changes_went_out(app, users, repo, browser_client):
    mirror.sync(app)
    app.targets.update(live_sha=repo.shas[1])  # a queued deployment forecasts against what is live
    client = browser_client("viewer")
    pages = {
        status: page(
            client,
            f"/deployments/{deployment_row(app, users, sha=repo.shas[-1], previous=repo.shas[1], status=status).pk}/",
        )
        for status in ("succeeded", "running", "queued", "failed", "cancelled")
    }

    assert "What went out to Staging" in pages["succeeded"]
    for status in ("running", "queued"):
        assert "What is going out to Staging" in pages[status] and "What went out" not in pages[status]
    for status in ("failed", "cancelled"):
        assert "Nothing changed on Staging; this deployment tried to send:" in pages[status]
        assert "What went out" not in pages[status]
    assert repo.shas[-1][:7] in pages["failed"] and "(3 commits)" in pages["failed"]


def test_a_failed_rollback_says_nothing_was_taken_off(app, users, repo, browser_client):
    mirror.sync(app)
    done = deployment_row(app, users, sha=repo.shas[1], previous=repo.shas[-1], status="succeeded", kind="rollback")
    failed = deployment_row(app, users, sha=repo.shas[1], previous=repo.shas[-1], status="failed", kind="rollback")

    assert "What this rollback took off Staging" in page(browser_client("viewer"), f"/deployments/{done.pk}/")
    assert "Nothing changed on Staging; this deployment tried to take off:" in page(
        browser_client("viewer"), f"/deployments/{failed.pk}/"
    )


def test_a_queued_deployment_says_what_it_waits_for(app, users, repo, browser_client):
    mirror.sync(app)
    first = deployment_row(app, users, sha=repo.shas[-1], status="running", started_at=timezone.now())
    second = deployment_row(app, users, sha=repo.shas[-1])
    locks.lock_target(
        actor=Actor(user=users["deployer"], source="web"), target=Target.objects.get(slug="staging"), reason="Freeze"
    )

    body = page(browser_client("viewer"), f"/deployments/{second.pk}/")
    tail = browser_client("viewer").get(f"/deployments/{second.pk}/tail").json()["facts"]

    for shown in (body, tail):
        assert "Staging is locked by deployer: Freeze" in shown
        assert "unlock on the target page</a>" in shown
        assert f"#{first.pk}</a> (running)" in shown
        assert "No worker is running" in shown  # no cluster runs in these tests
    assert "Waiting" not in page(browser_client("viewer"), f"/deployments/{first.pk}/")


def test_a_running_deployment_ticks_its_duration_and_hides_a_ref_that_is_its_sha(app, users, repo, browser_client):
    mirror.sync(app)
    started = timezone.now() - timedelta(seconds=90)
    running = deployment_row(app, users, sha=repo.shas[-1], ref=repo.shas[-1], status="running", started_at=started)

    body = page(browser_client("viewer"), f"/deployments/{running.pk}/")

    assert re.search(r'running for <time data-since datetime="[^"]+" data-ago title="since [^"]+ UTC">', body)
    assert f"({repo.shas[-1]})" not in body
    queued = deployment_row(app, users, sha=repo.shas[-1])
    assert "(main)" in page(browser_client("viewer"), f"/deployments/{queued.pk}/")


def test_the_deployment_page_announces_only_the_status(app, users, repo, browser_client):
    mirror.sync(app)
    body = page(browser_client("viewer"), f"/deployments/{deployment_row(app, users, sha=repo.shas[-1]).pk}/")

    summary = re.search(r'<section[^>]*id="summary"[^>]*>', body).group(0)
    assert "aria-live" not in summary
    assert 'id="status-announce" aria-live="polite"' in body


def test_the_deployment_page_offers_cancel_to_deployers_only(app, users, browser_client):
    deployment = request_deployment(users)

    assert "Cancel this deployment" in page(browser_client("deployer"), f"/deployments/{deployment.pk}/")
    assert "Cancel this deployment" not in page(browser_client("viewer"), f"/deployments/{deployment.pk}/")
    assert "favicon-running.svg" in page(browser_client("viewer"), f"/deployments/{deployment.pk}/")


def test_a_finished_deployment_offers_a_redeploy_and_shows_its_favicon(app, deploy, browser_client, repo):
    pk = deploy().pk

    body = page(browser_client("deployer"), f"/deployments/{pk}/")

    assert f"Redeploy {repo.shas[-1][:7]} to Staging" in body
    assert "favicon-succeeded.svg" in body
    assert f"<title>✔ #{pk} succeeded" in body
    assert "Redeploy" not in page(browser_client("viewer"), f"/deployments/{pk}/")


def test_the_deployment_page_polls_the_log_through_the_session(app, deploy, browser_client):
    deployment = deploy()
    answer = browser_client("viewer").get(f"/api/deployments/{deployment.pk}/log?after=0").json()
    assert answer["status"] == "succeeded"
    assert any("Verifying deploy" in line["text"] for line in answer["lines"])


def test_the_tail_endpoint_sends_new_lines_as_escaped_coloured_html_with_the_facts(app, users, browser_client):
    deployment = request_deployment(users)
    LogLine.objects.create(deployment=deployment, n=1, text="\x1b[32mgreen\x1b[0m <em>")
    LogLine.objects.create(deployment=deployment, n=2, text="second")

    answer = browser_client("viewer").get(f"/deployments/{deployment.pk}/tail?after=1").json()
    everything = browser_client("viewer").get(f"/deployments/{deployment.pk}/tail?after=0").json()

    assert answer["after"] == 2 and "second" in answer["html"] and "green" not in answer["html"]
    assert '<span class="a-f2">green</span> &lt;em&gt;' in everything["html"]
    assert 'id="L1"' in everything["html"] and 'href="#L1"' in everything["html"]
    assert answer["status"] == "queued" and not answer["finished"]
    assert "queued" in answer["title"] and "#" + str(deployment.pk) in answer["title"]
    assert "Status" in answer["facts"]
    assert browser_client("outsider").get(f"/deployments/{deployment.pk}/tail").status_code == 404


def test_the_full_log_downloads_as_text(app, deploy, browser_client, tmp_path):
    hook = "#!/bin/sh\ncat >/dev/null\nseq 1 6000 | sed 's/^/step /'\n"
    Target.objects.filter(app=app, slug="staging").update(remote_url=str(bare_remote(tmp_path / "long.git", hook)))
    deployment = deploy()

    response = browser_client("viewer").get(f"/deployments/{deployment.pk}/log.txt")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="deployment-{deployment.pk}.log"'
    text = response.content.decode()
    assert text.splitlines() == log_lines(deployment)
    assert "remote: step 1" in text.splitlines()
    assert "remote: step 6000" in text.splitlines()
    assert browser_client("outsider").get(f"/deployments/{deployment.pk}/log.txt").status_code == 404
