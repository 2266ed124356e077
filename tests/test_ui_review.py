"""What the UX review found: every page says what happened and what to do, and stays usable live."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from deployments import locks
from deployments.models import Deployment, LogLine
from portal.actor import Actor
from projects import mirror
from projects.models import CommitStatus, Target

CSS = Path(__file__).resolve().parent.parent / "static" / "bartender.css"


def html(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def deployment(app, users, *, sha: str, status: str = "queued", previous: str = "", **fields) -> Deployment:
    return Deployment.objects.create(
        app=app,
        target=Target.objects.get(slug="staging"),
        sha=sha,
        ref=fields.pop("ref", "main"),
        status=status,
        previous_sha=previous,
        requested_by=users["deployer"],
        requested_by_name="deployer",
        **fields,
    )


def commit_rows(body: str) -> list[str]:
    return body.split('<li class="commit')[1:]


def test_a_deployment_page_says_whether_its_changes_went_out(app, users, repo, browser_client):
    mirror.sync(app)
    client = browser_client("viewer")
    pages = {
        status: html(
            client,
            f"/deployments/{deployment(app, users, sha=repo.shas[-1], previous=repo.shas[1], status=status).pk}/",
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
    done = deployment(app, users, sha=repo.shas[1], previous=repo.shas[-1], status="succeeded", kind="rollback")
    failed = deployment(app, users, sha=repo.shas[1], previous=repo.shas[-1], status="failed", kind="rollback")

    assert "What this rollback took off Staging" in html(browser_client("viewer"), f"/deployments/{done.pk}/")
    assert "Nothing changed on Staging; this deployment tried to take off:" in html(
        browser_client("viewer"), f"/deployments/{failed.pk}/"
    )


def test_an_app_admin_gets_a_ci_override_link_and_a_deployer_is_told_what_to_do(app, repo, browser_client):
    Target.objects.filter(slug="staging").update(require_ci=True)
    CommitStatus.objects.create(app=app, sha=repo.shas[-1], context="ci", state="failure", reported_at=timezone.now())
    CommitStatus.objects.create(app=app, sha=repo.shas[-2], context="ci", state="pending", reported_at=timezone.now())
    mirror.sync(app)

    admin = commit_rows(html(browser_client("app_admin"), "/apps/shop/"))
    deployer = commit_rows(html(browser_client("deployer"), "/apps/shop/"))

    link = (
        f'href="/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}">Deploy to Staging (CI failed: CI override)…</a>'
    )
    assert link in admin[0] and "disabled" not in admin[0]
    assert "CI failed" in deployer[0] and "Ask an app admin to override, or wait for CI." in deployer[0]
    assert "CI pending" in deployer[1]
    assert "No CI status" in deployer[2]
    assert "CI is not green" not in "".join(deployer)
    assert "disabled" in deployer[0]


def test_the_confirmation_offers_an_app_admin_the_ci_override(app, repo, browser_client):
    Target.objects.filter(slug="staging").update(require_ci=True)
    mirror.sync(app)

    body = html(browser_client("app_admin"), f"/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}")

    assert "Deploy anyway: why?" in body


def test_the_app_page_keeps_still_while_a_deployment_prints(app, users, repo, browser_client):
    mirror.sync(app)
    client = browser_client("viewer")
    running = deployment(app, users, sha=repo.shas[-1], status="running", started_at=timezone.now())
    app_before = client.get("/live/state?app=shop&lines=0").json()["version"]
    dashboard_before = client.get("/live/state").json()["version"]
    page_version = re.search(r'data-live-version="(\w+)"', html(client, "/apps/shop/")).group(1)

    LogLine.objects.create(deployment=running, n=1, text="-----> Building")

    assert client.get("/live/state?app=shop&lines=0").json()["version"] == app_before == page_version
    assert client.get("/live/state").json()["version"] != dashboard_before  # the dashboard shows the line


def test_the_app_pages_actions_have_stable_ids_and_the_refresh_is_not_announced(app, users, repo, browser_client):
    mirror.sync(app)

    body = html(browser_client("deployer"), "/apps/shop/")

    assert f'id="deploy-{repo.shas[-1][:7]}-staging"' in body
    assert f'id="deploy-{repo.shas[0][:7]}-staging"' in body
    live_note = re.search(r'<p class="live-note[^>]*>', body).group(0)
    assert "role=" not in live_note and "aria-live" not in live_note


def test_a_queued_deployment_says_what_it_waits_for(app, users, repo, browser_client):
    mirror.sync(app)
    first = deployment(app, users, sha=repo.shas[-1], status="running", started_at=timezone.now())
    second = deployment(app, users, sha=repo.shas[-1])
    locks.lock_target(
        actor=Actor(user=users["deployer"], source="web"), target=Target.objects.get(slug="staging"), reason="Freeze"
    )

    body = html(browser_client("viewer"), f"/deployments/{second.pk}/")
    tail = browser_client("viewer").get(f"/deployments/{second.pk}/tail").json()["facts"]

    for shown in (body, tail):
        assert "Staging is locked by deployer: Freeze" in shown
        assert "unlock on the target page</a>" in shown
        assert f"#{first.pk}</a> (running)" in shown
        assert "No worker is running" in shown  # no cluster runs in these tests
    assert "Waiting" not in html(browser_client("viewer"), f"/deployments/{first.pk}/")


def test_a_running_deployment_ticks_its_duration_and_hides_a_ref_that_is_its_sha(app, users, repo, browser_client):
    mirror.sync(app)
    started = timezone.now() - timedelta(seconds=90)
    running = deployment(app, users, sha=repo.shas[-1], ref=repo.shas[-1], status="running", started_at=started)

    body = html(browser_client("viewer"), f"/deployments/{running.pk}/")

    assert re.search(r'running for <time data-since datetime="[^"]+">', body)
    assert f"({repo.shas[-1]})" not in body
    assert "(main)" in html(browser_client("viewer"), f"/deployments/{deployment(app, users, sha=repo.shas[-1]).pk}/")


def test_the_deployment_page_announces_only_the_status(app, users, repo, browser_client):
    mirror.sync(app)
    body = html(browser_client("viewer"), f"/deployments/{deployment(app, users, sha=repo.shas[-1]).pk}/")

    summary = re.search(r'<section[^>]*id="summary"[^>]*>', body).group(0)
    assert "aria-live" not in summary
    assert 'id="status-announce" aria-live="polite"' in body


def test_protected_and_diverged_deploys_go_through_the_confirmation(app, users, repo, remote, browser_client):
    repo.branch("side", start=repo.shas[2])
    repo.checkout("side")
    side = repo.commit("Side work", {"side.txt": "x"})
    repo.checkout("main")
    Target.objects.create(
        app=app, slug="production", name="Production", remote_url=str(remote), protected=True, live_sha=repo.shas[1]
    )
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[-2])
    mirror.sync(app)
    client = browser_client("app_admin")

    main = commit_rows(html(client, "/apps/shop/"))
    branch = commit_rows(html(client, "/apps/shop/?branch=side"))
    confirm = html(client, f"/apps/shop/targets/staging/deploy/?ref={side}")

    newest = main[0]
    assert f'href="/apps/shop/targets/production/deploy/?ref={repo.shas[-1]}">Deploy to Production…</a>' in newest
    assert 'type="submit" id="deploy-' in newest and ">Deploy to Staging</button>" in newest  # a fast-forward
    assert f'href="/apps/shop/targets/staging/deploy/?ref={side}">Deploy to Staging…</a>' in branch[0]
    assert ">Deploy to Staging</button>" not in branch[0]
    assert "Not a fast-forward" in confirm


def test_a_refused_deploy_goes_back_to_the_page_it_came_from(app, users, repo, browser_client):
    mirror.sync(app)
    locks.lock_target(
        actor=Actor(user=users["deployer"], source="web"), target=Target.objects.get(slug="staging"), reason="Freeze"
    )
    client = browser_client("deployer")
    url = "/apps/shop/targets/staging/deploy/"
    came_from = "/apps/shop/?branch=main&page=2&q=fix"

    by_next = client.post(url, {"ref": repo.shas[-1], "next": came_from})
    by_referer = client.post(url, {"ref": repo.shas[-1]}, HTTP_REFERER="http://testserver" + came_from)
    elsewhere = client.post(url, {"ref": repo.shas[-1], "next": "https://evil.example/apps/shop/?q=x"})
    other_page = client.post(url, {"ref": repo.shas[-1]}, HTTP_REFERER="http://testserver/admin/")
    bad_ref = client.get(url + "?ref=no-such-ref", HTTP_REFERER="http://testserver" + came_from)

    assert by_next.status_code == 302 and by_next["Location"] == came_from
    assert by_referer["Location"] == came_from
    assert elsewhere["Location"] == "/apps/shop/"
    assert other_page["Location"] == "/apps/shop/"
    assert bad_ref["Location"] == came_from


def test_the_confirmation_carries_the_app_page_it_came_from(app, repo, browser_client):
    mirror.sync(app)
    came_from = "/apps/shop/?branch=main&page=2"

    body = (
        browser_client("deployer")
        .get(f"/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}", HTTP_REFERER="http://testserver" + came_from)
        .content.decode()
    )

    assert '<input type="hidden" name="next" value="/apps/shop/?branch=main&amp;page=2">' in body
    assert '<a href="/apps/shop/?branch=main&amp;page=2">Cancel</a>' in body


def test_the_live_mark_says_who_deployed_it_and_when(app, users, repo, browser_client):
    mirror.sync(app)
    deployment(app, users, sha=repo.shas[-1], status="succeeded", finished_at=timezone.now())
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[-1])

    newest = commit_rows(html(browser_client("viewer"), "/apps/shop/"))[0]

    assert re.search(r'● live on Staging<span class="who"> by deployer, 0\xa0minutes ago</span>', newest)


def test_an_unknown_branch_links_back_to_the_default_branch(app, browser_client):
    mirror.sync(app)

    response = browser_client("viewer").get("/apps/shop/?branch=no-such-branch")

    assert response.status_code == 404
    assert '<a href="?branch=main">Show main</a>' in response.content.decode()


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _css_colour(css: str, selector: str, prop: str) -> str:
    return re.search(re.escape(selector) + r" \{[^}]*?\b" + prop + r":(#[0-9a-f]{6})", css).group(1)


def test_every_normal_ansi_colour_passes_aa_on_the_blue_background():
    css = CSS.read_text()
    blue = _luminance(_css_colour(css, ".a-g4", "background"))
    for n in (1, 2, 3, 5, 6, 7):
        fg = _luminance(_css_colour(css, f".a-f{n}", "color"))
        assert (max(fg, blue) + 0.05) / (min(fg, blue) + 0.05) >= 4.5, n


def test_ci_chips_are_styled_and_a_disabled_buttons_sentence_shows_on_phones():
    css = CSS.read_text()
    for state in ("success", "failure", "pending", "error"):
        assert f".ci-{state}" in css
    narrow = css[css.index("@media (max-width: 640px)") :]
    assert ".blocked .sentence { position:static" in narrow
