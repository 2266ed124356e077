"""The 3 a.m. path in a real headless Chromium (issue 13): a first deploy to a protected target,
a rollback from the target's history that locks the target afterwards, a failed deployment that
links its error line, the confirmation of a locked target, and drift that appears without a
reload. Each at 1280 px, the pages also at 375 px.

These tests make the README's screenshots (docs/screenshots/*.png, the viewport only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments import locks, services
from deployments.models import Deployment
from portal.actor import Actor
from projects import mirror
from projects.models import Lock, Target
from tests.gitutil import bare_remote, remote_head
from tests.helpers import wait_for
from tests.test_browser_pages import browser, signed_in_pages  # noqa: F401 - the module's Chromium, shared

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ZONE = "Europe/Berlin"  # the viewer's zone: not the server's UTC, so the label shows


@pytest.fixture
def site(app, remote, live_server, start_cluster) -> str:
    """The shop app (its remote refuses a commit holding BREAK), fetched, with a worker cluster."""
    mirror.sync(app)
    start_cluster()
    return live_server.url


@pytest.fixture
def open_as(browser, site) -> Iterator:  # noqa: F811 - the imported fixture
    yield from signed_in_pages(browser, site, width=1280, height=800, timezone_id=ZONE)


def screenshot(page, name: str) -> None:
    """A README screenshot: the viewport only, PNG, the pointer and caret out of the way."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False, caret="hide", animations="disabled")


def fits_a_phone(page, url: str) -> int:
    """The page's width at 375 px (375: no sideways scroll)."""
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(url)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 800})
    return width


def deployed(users, ref: str, *, target: str = "staging") -> Deployment:
    """A deployment by the deployer through the service, waited for until the cluster ends it."""
    found = Target.objects.get(slug=target)
    made = services.deployment_request(actor=Actor(user=users["deployer"], source="api"), target=found, ref=ref)
    return wait_for(
        lambda: Deployment.objects.filter(pk=made.pk, status__in=["succeeded", "failed", "cancelled"]).first(),
        timeout=60,
        what=f"deployment #{made.pk}",
    )


def test_a_first_deploy_to_a_protected_target_goes_through_the_confirmation(open_as, site, repo, remote):
    Target.objects.filter(slug="staging").update(protected=True)
    page = open_as("app_admin")
    page.goto(site + "/apps/shop/")

    rows = page.locator("#commits > li")
    assert rows.first.get_by_role("button", name="Deploy to Staging").count() == 0  # no one-click push
    rows.first.get_by_role("link", name="Deploy to Staging…").click()
    page.wait_for_url("**/deploy/?ref=*")
    confirm_url = page.url

    assert page.get_by_role("heading", name="Deploy to Staging?").is_visible()
    assert "first deploy" in page.locator("main").inner_text()
    assert remote_head(remote) == ""  # nothing went out on the way here
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.wait_for_url("**/deployments/*/")
    page.locator("#status").get_by_text("succeeded").wait_for()

    assert remote_head(remote) == repo.shas[-1]
    assert fits_a_phone(page, confirm_url) == 375


def test_rolling_back_from_the_history_with_lock_after_leaves_the_target_locked(open_as, site, repo, remote, users):
    deployed(users, repo.shas[2])
    deployed(users, "main")
    Target.objects.filter(slug="staging").update(protected=True)
    page = open_as("app_admin")
    page.goto(site + "/apps/shop/targets/staging/")

    history = page.locator(".history")
    assert mirror.commit(Target.objects.get(slug="staging").app, repo.shas[2]).message in history.inner_text()
    history.get_by_role("link", name="Roll back to here").click()
    page.wait_for_url("**/deploy/?ref=*")
    confirm_url = page.url

    lock_after = page.get_by_label("Lock Staging afterwards")
    assert lock_after.is_checked()  # on by default: Staging is protected
    page.get_by_label("Lock reason").fill("Incident 42: bad release")
    page.get_by_role("button", name="Roll back 2 commits").focus()
    screenshot(page, "rollback-confirmation")
    page.get_by_role("button", name="Roll back 2 commits").click()
    page.wait_for_url("**/deployments/*/")
    page.locator("#status").get_by_text("succeeded").wait_for()

    assert remote_head(remote) == repo.shas[2]  # the rollback ran: its own lock did not hold it
    lock = Lock.objects.get(target__slug="staging")
    assert (lock.reason, lock.by) == ("Incident 42: bad release", "app_admin")
    page.goto(site + "/apps/shop/targets/staging/")
    assert "Locked by app_admin: Incident 42: bad release" in page.locator("#lock-facts").inner_text()
    assert fits_a_phone(page, site + "/apps/shop/targets/staging/") == 375
    assert fits_a_phone(page, confirm_url) == 375  # now with the lock shown on it


def test_a_failed_deploys_outcome_links_its_error_line(open_as, site, repo, app, users):
    broken = repo.commit("Add the BREAK file", {"BREAK": "x"})
    mirror.sync(app)
    failed = deployed(users, broken)
    assert failed.status == "failed"
    page = open_as("deployer")
    page.goto(site + f"/deployments/{failed.pk}/")

    outcome = page.locator("#reason")
    assert "Build failed: BREAK file present" in outcome.inner_text()
    assert "pick another commit" in outcome.inner_text()
    assert page.locator("#redeploy-link, #redeploy-button").count() == 0
    link = outcome.get_by_role("link").first
    line = link.get_attribute("href")
    link.click()

    assert page.url.endswith(line)
    target = page.locator(f"{line}:target")
    assert target.count() == 1 and "Build failed" in target.inner_text()
    assert "err" in target.get_attribute("class").split()
    red, green, blue = page.evaluate(
        f"getComputedStyle(document.querySelector('{line}')).color.match(/\\d+/g).map(Number)"
    )
    assert red > 200 and green < 200 and blue < 200  # red in the log
    screenshot(page, "deployment-log")
    assert fits_a_phone(page, site + f"/deployments/{failed.pk}/") == 375


def test_the_confirmation_of_a_locked_target_shows_the_lock_and_unlocks(open_as, site, repo, users):
    deployed(users, "main")
    staging = Target.objects.get(slug="staging")
    locks.lock_target(
        actor=Actor(user=users["app_admin"], source="web"), target=staging, reason="Release freeze",
        until=locks.until_after("1d"),
    )  # fmt: skip
    page = open_as("deployer")
    confirm_url = site + f"/apps/shop/targets/staging/deploy/?ref={repo.shas[1]}"
    page.goto(confirm_url)

    facts = page.locator("#lock-facts").inner_text()
    assert "Staging is locked" in page.locator("main").inner_text()
    assert "Locked by app_admin: Release freeze" in facts and "since" in facts and "until" in facts
    assert f"({ZONE})" in facts  # the viewer's local time, labelled
    assert "UTC" in page.locator("#lock-facts time").first.get_attribute("title")  # UTC on hover
    roll_back = page.get_by_role("button", name="Roll back 3 commits")
    assert roll_back.is_disabled()
    assert fits_a_phone(page, confirm_url) == 375

    page.get_by_role("button", name="Unlock Staging").click()
    page.wait_for_url(confirm_url)

    assert page.locator("#lock-facts").count() == 0
    assert page.get_by_role("button", name="Roll back 3 commits").is_enabled()
    assert not Lock.objects.exists()


def test_a_new_commit_shows_as_drift_on_an_open_app_page_without_a_reload(open_as, site, repo, app, users, tmp_path):
    Target.objects.create(
        app=app, slug="production", name="Production", protected=True, position=1,
        remote_url=str(bare_remote(tmp_path / "production.git")),
    )  # fmt: skip
    deployed(users, repo.shas[3])
    deployed(users, "main")
    page = open_as("deployer")
    page.goto(site + "/apps/shop/")
    drift = page.locator("#drift-staging")
    assert "from main" in drift.inner_text() and "up to date with main" in drift.inner_text()
    page.evaluate("window.stillHere = true")
    focused = f"deploy-{repo.shas[1][:7]}-staging"
    page.locator(f"#{focused}").focus()

    new = repo.commit("Faster checkout", {"checkout.txt": "fast"})
    mirror.sync(app)  # the fetch; the open page must show it within 10 s

    page.locator("#drift-staging", has_text="1 commit behind main").wait_for(timeout=10_000)
    assert page.locator("#commits > li").first.locator(".sha").inner_text() == new[:7]
    assert page.evaluate("window.stillHere") is True  # no reload
    assert page.evaluate("document.activeElement.id") == focused  # focus kept through the update
    newest = page.locator("#commits > li").first
    assert (
        newest.get_by_role("link", name="Deploy to Staging").count()
        + newest.get_by_role("button", name="Deploy to Staging").count()
        == 1
    )
    page.locator("body").click(position={"x": 5, "y": 5})
    screenshot(page, "app-page")
    assert fits_a_phone(page, site + "/apps/shop/") == 375

    page.goto(site + "/")
    ago = page.locator("#apps time[data-ago]").first
    assert ago.inner_text() in ("just now", "1 minute ago") or "ago" in ago.inner_text()
    assert "UTC" in ago.get_attribute("title") and ZONE in ago.get_attribute("title")
    assert page.get_by_role("link", name="Earlier deployments").count() == 1
    assert page.get_by_role("link", name=f"Roll back Staging to {repo.shas[3][:7]}").count() == 1
    screenshot(page, "dashboard")
    assert fits_a_phone(page, site + "/") == 375
