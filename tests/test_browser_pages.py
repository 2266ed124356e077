"""The pages in a real headless Chromium against a live server and a real worker cluster.

Debian's /usr/bin/chromium, driven by Playwright (never a downloaded browser). Screenshots of the
main pages land in var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from deployments import locks, services
from deployments.models import Deployment
from portal.actor import Actor
from projects import mirror
from projects.models import Target
from tests.gitutil import remote_head
from tests.helpers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
WAIT_MS = 60_000
# A build that takes a moment, prints colours and tries to inject markup into the page.
SLOW_HOOK = r"""#!/bin/sh
while read old new ref; do
  printf '\033[1;32m-----> Building %s\033[0m\n' "$new"
  echo "<script>window.injected = 1</script><b>not bold</b>"
  sleep 2
  printf '\033[31mwarning:\033[0m nothing serious\n'
  echo "Verifying deploy... done."
done
"""


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: run 'bash scripts/browser.sh' (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread for as long as the browser
    # lives; the ORM calls the tests (and the database teardown) make meanwhile are still plain
    # synchronous calls, so Django's async guard is told to let them through.
    unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                ],
            )
            yield chromium
            chromium.close()
    finally:
        if unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe


@pytest.fixture
def site(app, remote, live_server, start_cluster):
    """The shop app with a slow, colourful build, its mirror fetched, and a worker cluster running."""
    (remote / "hooks" / "pre-receive").write_text(SLOW_HOOK)
    mirror.sync(app)
    start_cluster()
    return live_server.url


def signed_in_pages(browser, site: str, *, width: int, height: int, **options) -> Iterator:
    """Yield `login(role, width=, height=)`: a page signed in as `role` in a browser context of its
    own (`options` go to every context); the contexts are closed afterwards."""
    contexts = []

    def login(role: str, *, width: int = width, height: int = height):
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(site + "/accounts/login/")
        page.get_by_label("Username").fill(role)
        page.get_by_label("Password").fill(f"pw-{role}-Long1")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(site + "/")
        return page

    yield login
    for context in contexts:
        context.close()


@pytest.fixture
def open_as(browser, site) -> Iterator:
    yield from signed_in_pages(browser, site, width=1200, height=900)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def finished(deployment_id: int) -> Deployment | None:
    return Deployment.objects.filter(pk=deployment_id, status__in=["succeeded", "failed", "cancelled"]).first()


def test_a_deployer_deploys_and_watches_the_log_stream_to_success_without_a_reload(open_as, site, repo, remote):
    dashboard = open_as("deployer")
    dashboard.evaluate("window.stillHere = 'dashboard'")
    page = dashboard.context.new_page()
    page.goto(site + "/apps/shop/")
    shot(page, "app-page")

    page.get_by_role("button", name="Deploy to Staging").first.click()
    page.wait_for_url("**/deployments/*/")
    page.evaluate("window.stillHere = 'deployment'")
    first_status = page.locator("#log").get_attribute("data-status")
    shot(page, "deployment-running")

    page.locator("#status").get_by_text("succeeded").wait_for()

    assert first_status in ("queued", "running")  # the page was open before the push ended
    assert page.evaluate("window.stillHere") == "deployment"  # no reload, no navigation
    log = page.locator("#log")
    assert "Verifying deploy... done." in log.inner_text()
    assert log.locator("span.a-f2.a-b", has_text="Building").count() == 1  # ANSI bold green
    assert log.locator("span.a-f1", has_text="warning:").count() == 1
    assert "<b>not bold</b>" in log.inner_text() and log.locator("b").count() == 0
    assert page.evaluate("window.injected") is None
    assert "succeeded" in page.title()
    assert "favicon-succeeded" in page.locator("#favicon").get_attribute("href")
    assert "Redeploy" in page.locator("#summary").inner_text()  # the facts came back with the outcome
    assert remote_head(remote) == repo.shas[-1]
    shot(page, "deployment-succeeded")

    # The dashboard, open all along in another tab, shows the outcome without a reload.
    dashboard.locator("#apps").get_by_text("succeeded").wait_for()
    assert dashboard.evaluate("window.stillHere") == "dashboard"
    assert repo.shas[-1][:7] in dashboard.locator("#apps").inner_text()
    shot(dashboard, "dashboard")


def test_the_app_page_marks_a_deployment_live_when_it_starts_and_ends(open_as, repo, users):
    page = open_as("viewer")
    page.goto(page.url + "apps/shop/")
    page.evaluate("window.stillHere = true")
    target = Target.objects.get(slug="staging")

    deployment = services.deployment_request(
        actor=Actor(user=users["deployer"], source="api"), target=target, ref="main"
    )

    page.locator("#commits").get_by_text("deploying to Staging").or_(
        page.locator("#commits").get_by_text("queued for Staging")
    ).first.wait_for()
    page.locator("#commits .mark.live", has_text="live on Staging").wait_for()
    assert page.evaluate("window.stillHere") is True
    assert finished(deployment.pk).status == "succeeded"
    newest = page.locator("#commits > li").first
    assert "live on Staging" in newest.inner_text()


def test_rolling_back_goes_through_a_confirmation_that_lists_what_goes_back(open_as, site, repo, remote, users):
    target = Target.objects.get(slug="staging")
    first = services.deployment_request(actor=Actor(user=users["deployer"], source="api"), target=target, ref="main")
    wait_for(lambda: finished(first.pk), timeout=60, what="the first deployment")
    page = open_as("deployer")
    page.goto(site + "/apps/shop/")

    page.get_by_role("link", name="Roll back Staging").nth(2).click()  # shas[1]: the third older commit down

    page.wait_for_url("**/deploy/?ref=*")
    going_back = page.locator(".going-back").inner_text()
    for sha in repo.shas[2:]:
        assert sha[:7] in going_back
    assert repo.shas[1][:7] not in going_back
    shot(page, "rollback-confirmation")
    page.get_by_role("button", name="Roll back 3 commits").click()
    page.wait_for_url("**/deployments/*/")
    page.locator("#status").get_by_text("succeeded").wait_for()
    assert "rollback" in page.locator("#summary").inner_text()
    assert remote_head(remote) == repo.shas[1]


def test_a_locked_targets_disabled_button_says_why(open_as, site, users):
    target = Target.objects.get(slug="staging")
    locks.lock_target(actor=Actor(user=users["deployer"], source="web"), target=target, reason="Release freeze")
    page = open_as("deployer")
    page.goto(site + "/apps/shop/")

    button = page.get_by_role("button", name="Deploy to Staging").first

    assert button.is_disabled()
    why = page.locator("#" + button.get_attribute("aria-describedby"))
    assert "Locked" in why.inner_text()  # the words beside the button
    assert "locked by deployer: Release freeze" in why.text_content()  # and the whole sentence for screen readers
    assert "Release freeze" in page.locator("#targets").inner_text()
    assert page.locator("form button[type=submit]", has_text="Deploy to").count() == 0


def test_a_viewer_sees_no_deploy_buttons(open_as, site):
    page = open_as("viewer")
    page.goto(site + "/apps/shop/")
    page.locator("#commits > li").first.wait_for()

    assert page.get_by_role("button", name="Deploy to").count() == 0
    assert page.get_by_role("link", name="Roll back").count() == 0
    assert page.get_by_role("button", name="Redeploy").count() == 0
    assert "deployer role" in page.locator(".note").inner_text()


def test_the_main_pages_fit_a_375_pixel_screen_without_horizontal_scroll(open_as, site, users):
    target = Target.objects.get(slug="staging")
    deployment = services.deployment_request(
        actor=Actor(user=users["deployer"], source="api"), target=target, ref="main"
    )
    wait_for(lambda: finished(deployment.pk), timeout=60, what="the deployment")
    locks.lock_target(actor=Actor(user=users["deployer"], source="web"), target=target, reason="A long reason " * 6)
    by_sha = Deployment.objects.create(
        app=target.app, target=target, sha=deployment.sha, ref=deployment.sha, status="succeeded",
        requested_by_name="deployer", started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    page = open_as("deployer", width=375, height=800)

    widths = {}
    for name, path in [
        ("dashboard", "/"),
        ("app-page", "/apps/shop/"),
        ("deployment", f"/deployments/{deployment.pk}/"),
        ("deployment-by-sha", f"/deployments/{by_sha.pk}/"),
        ("target", "/apps/shop/targets/staging/"),
        ("insights", "/apps/shop/insights/"),
        ("confirm", f"/apps/shop/targets/staging/deploy/?ref={deployment.sha}"),
    ]:
        page.goto(site + path)
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
        shot(page, f"mobile-{name}")

    assert widths == dict.fromkeys(widths, 375)
    # No hover on a phone: a disabled button's whole sentence shows under it.
    page.goto(site + "/apps/shop/")
    sentence = page.locator("#commits .blocked .sentence").first
    assert "locked by deployer: A long reason" in sentence.inner_text()
    assert sentence.bounding_box()["width"] > 100


def _waiting_deployment(users) -> Deployment:
    """A deployment that stays queued: its target is locked, so no worker starts it."""
    target = Target.objects.get(slug="staging")
    locks.lock_target(actor=Actor(user=users["deployer"], source="web"), target=target, reason="Hold")
    return Deployment.objects.create(
        app=target.app, target=target, sha=mirror.heads(target.app)["main"], ref="main", requested_by_name="deployer"
    )


def test_pages_left_open_after_signing_out_say_so_and_stop_polling(open_as, site, users):
    queued = _waiting_deployment(users)
    page = open_as("deployer")
    page.goto(site + f"/deployments/{queued.pk}/")
    app_page = page.context.new_page()
    app_page.goto(site + "/apps/shop/")
    assert "Hold" in page.locator("#waiting").inner_text()

    page.context.clear_cookies()

    for open_page in (page, app_page):
        banner = open_page.locator("#signed-out")
        banner.wait_for()
        assert banner.inner_text() == "You were signed out; reload to keep following."
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/tail" in request.url else None)
    page.wait_for_timeout(2500)
    assert polls == []  # it stopped asking
    shot(page, "deployment-signed-out")


def test_a_server_that_does_not_answer_pauses_live_updates_until_it_does(open_as, site, users):
    queued = _waiting_deployment(users)
    page = open_as("deployer")
    page.route("**/tail*", lambda route: route.abort())
    page.goto(site + f"/deployments/{queued.pk}/")

    page.locator("#paused", has_text="Live updates paused").wait_for()
    page.unroute("**/tail*")
    page.locator("#paused").wait_for(state="detached")
    assert page.locator("#signed-out").count() == 0


def test_a_running_deployments_duration_ticks(open_as, site, users):
    target = Target.objects.get(slug="staging")
    started = timezone.now() - timedelta(seconds=75)
    running = Deployment.objects.create(
        app=target.app, target=target, sha=mirror.heads(target.app)["main"], ref="main", requested_by_name="deployer",
        status="running", started_at=started, heartbeat_at=timezone.now(),
    )  # fmt: skip
    page = open_as("viewer")
    page.goto(site + f"/deployments/{running.pk}/")

    first = page.locator("#duration").inner_text()
    page.wait_for_timeout(2100)
    later = page.locator("#duration").inner_text()

    assert first.startswith("running for 1 min ") and first.endswith(" s")
    assert later != first


def test_keyboard_focus_stays_on_the_app_page_while_a_deployment_runs(open_as, site, repo, users):
    page = open_as("deployer")
    page.goto(site + "/apps/shop/")
    chosen = f"deploy-{repo.shas[1][:7]}-staging"
    page.locator(f"#{chosen}").focus()

    target = Target.objects.get(slug="staging")
    deployment = services.deployment_request(
        actor=Actor(user=users["deployer"], source="api"), target=target, ref="main"
    )
    page.locator("#commits .mark.live", has_text="live on Staging").wait_for()

    assert finished(deployment.pk).status == "succeeded"
    assert page.evaluate("document.activeElement.id") == chosen  # now a rollback link, same place


def test_the_deployment_page_is_reachable_by_keyboard(open_as, site, users):
    target = Target.objects.get(slug="staging")
    deployment = services.deployment_request(
        actor=Actor(user=users["deployer"], source="api"), target=target, ref="main"
    )
    wait_for(lambda: finished(deployment.pk), timeout=60, what="the deployment")
    page = open_as("deployer")
    page.goto(site + f"/deployments/{deployment.pk}/#L2")

    reached = []
    for _ in range(25):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))

    assert "log" in reached  # the output can be scrolled from the keyboard
    assert any("Redeploy" in text for text in reached)
    assert page.evaluate("document.querySelector('#L2:target') !== null")  # the link to a line
    shot(page, "deployment-line-link")
