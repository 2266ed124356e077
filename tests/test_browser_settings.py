"""The team lead's first hour in a real headless Chromium (issue 13): an app admin who is not
staff sets an app up from its settings pages alone, and no page a user can reach scrolls sideways
on a 375-pixel phone. Screenshots land in var/screenshots/ (settings-*, phone-*)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from deployments import services
from deployments.models import Delivery, Webhook
from portal.actor import Actor
from portal.models import ApiToken
from projects.models import Access, Target
from tests.cd_helpers import Receiver
from tests.helpers import wait_for
from tests.test_browser_pages import browser, finished, open_as, shot, site  # noqa: F401 - shared fixtures

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]
PHONE = 375


def test_a_team_lead_sets_up_an_app_from_the_settings_pages_alone(open_as, site, settings):  # noqa: F811
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the Slack stand-in listens on loopback
    Group.objects.create(name="ops")  # staff made the team; the lead gives it a role
    with Receiver() as slack:
        page = open_as("app_admin")
        visited: list[str] = []
        page.on("request", lambda request: visited.append(request.url))
        page.goto(site + "/apps/shop/")
        page.get_by_role("link", name="Settings").click()
        page.wait_for_url("**/apps/shop/settings/")

        # A protected target that requires green CI for two contexts.
        page.get_by_role("link", name="Add a target").click()
        page.get_by_label("Slug").fill("qa")
        page.get_by_label("Name", exact=True).fill("QA")
        page.get_by_label("Heroku app").fill("shop-qa")
        page.get_by_label("Protected").check()
        page.get_by_label("Require green CI").check()
        page.get_by_label("Required CI contexts").fill("ci/tests, lint")
        shot(page, "settings-new-target")
        page.get_by_role("button", name="Add target").click()
        page.wait_for_url("**/apps/shop/settings/")
        assert "Added the target QA." in page.locator(".messages").inner_text()
        assert "ci/tests, lint" in page.locator("table").inner_text()
        shot(page, "settings-targets")

        # The team ops deploys.
        page.get_by_role("link", name="Access").click()
        page.get_by_label("Team", exact=True).select_option("ops")
        page.locator("#team-role").select_option("deployer")
        page.get_by_role("button", name="Grant to team").click()
        page.get_by_role("button", name="Remove team ops").wait_for()
        shot(page, "settings-access")

        # A Slack webhook, and a test message that arrives.
        page.get_by_role("link", name="Notifications").click()
        page.get_by_label("Name", exact=True).fill("deploys")
        page.get_by_label("URL", exact=True).fill(slack.url)
        page.get_by_label("Format").select_option("slack")
        page.get_by_role("button", name="Add webhook").click()
        page.get_by_role("button", name="Send a test to deploys").click()
        page.locator(".messages").get_by_text("Test sent to deploys: HTTP 200.").wait_for()
        assert "delivered" in page.locator("table.history").inner_text()
        shot(page, "settings-notifications")

        # A CI token, copied once, then revoked after a question.
        page.get_by_role("link", name="CI tokens").click()
        page.get_by_label("Name of the CI system").fill("Buildkite")
        page.get_by_role("button", name="Make a CI token").click()
        shown = page.locator("#new-token").inner_text().strip()
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.get_by_role("button", name="Copy").click()
        page.locator("#new-token-copied").get_by_text("Copied.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == shown
        shot(page, "settings-ci-token")
        assert ApiToken.objects.filter(ci_app__slug="shop", name="Buildkite").count() == 1

    qa = Target.objects.get(app__slug="shop", slug="qa")
    assert (qa.heroku_app, qa.protected, qa.require_ci, qa.required_contexts) == (
        "shop-qa", True, True, ["ci/tests", "lint"]
    )  # fmt: skip
    assert Access.objects.filter(app__slug="shop", team__name="ops", role="deployer").exists()
    webhook = Webhook.objects.get(app__slug="shop", name="deploys")
    assert Delivery.objects.get(webhook=webhook).state == "delivered"
    assert "a test message from Bartender" in slack.received[0]["json"]["text"]
    assert not [url for url in visited if "/admin/" in url or "/api/" in url]  # the settings pages alone


def test_revoking_a_ci_token_asks_first_and_keeps_it_when_the_answer_is_no(open_as, site):  # noqa: F811
    page = open_as("app_admin")
    page.goto(site + "/apps/shop/ci-tokens/")
    page.get_by_label("Name of the CI system").fill("Jenkins")
    page.get_by_role("button", name="Make a CI token").click()

    page.get_by_role("link", name="Revoke Jenkins…").click()
    page.get_by_role("heading", name="Revoke the CI token “Jenkins”?").wait_for()
    page.get_by_role("link", name="Keep it").click()
    assert ApiToken.objects.filter(name="Jenkins").exists()
    page.get_by_role("link", name="Revoke Jenkins…").click()
    page.get_by_role("button", name="Revoke Jenkins").click()
    page.get_by_text("No CI tokens yet.").wait_for()

    assert not ApiToken.objects.filter(name="Jenkins").exists()


def _width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_no_page_at_375_pixels_scrolls_sideways(open_as, site, users, browser, settings):  # noqa: F811
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    target = Target.objects.get(slug="staging")
    deployment = services.deployment_request(
        actor=Actor(user=users["deployer"], source="api"), target=target, ref="main"
    )
    wait_for(lambda: finished(deployment.pk), timeout=60, what="the deployment")
    Target.objects.filter(pk=target.pk).update(required_contexts=["continuous-integration/a-rather-long-context"])
    with Receiver(codes=[500]) as failing:
        webhook = Webhook.objects.create(
            app=target.app, name="a-webhook-with-a-long-name", url=failing.url + "/" + "path-segment-" * 8
        )
        Delivery.objects.create(webhook=webhook, event="deployment.succeeded", payload={}, due_at=deployment.created_at,
                                state="failed", error="The endpoint answered HTTP 500. " * 4)  # fmt: skip
    page = open_as("app_admin", width=PHONE, height=800)
    widths: dict[str, int] = {}

    def measure(name: str) -> None:
        page.wait_for_load_state()
        widths[name] = _width(page)
        shot(page, f"phone-{name}")

    # A new API token and a new CI token are long words on one line: shown once, they must fit too.
    page.goto(site + "/accounts/profile/")
    page.get_by_label("Name").fill("laptop-of-the-team-lead")
    page.get_by_role("button", name="Create token").click()
    measure("profile-new-token")
    page.goto(site + "/apps/shop/ci-tokens/")
    page.get_by_label("Name of the CI system").fill("Buildkite")
    page.get_by_role("button", name="Make a CI token").click()
    measure("ci-token-new")
    token = ApiToken.objects.filter(ci_app__isnull=False).first()
    own = ApiToken.objects.filter(user=users["app_admin"], ci_app__isnull=True).first()
    for name, path in [
        ("dashboard", "/"),
        ("app", "/apps/shop/"),
        ("target", "/apps/shop/targets/staging/"),
        ("deployment", f"/deployments/{deployment.pk}/"),
        ("confirm", f"/apps/shop/targets/staging/deploy/?ref={deployment.sha}"),
        ("audit", "/audit/"),
        ("audit-empty", "/audit/?user=nobody"),
        ("profile", "/accounts/profile/"),
        ("token-revoke", f"/accounts/profile/tokens/{own.pk}/revoke/"),
        ("password", "/accounts/password_change/"),
        ("insights", "/apps/shop/insights/"),
        ("settings", "/apps/shop/settings/"),
        ("settings-new-target", "/apps/shop/settings/targets/new/"),
        ("settings-target", "/apps/shop/settings/targets/staging/"),
        ("settings-access", "/apps/shop/settings/access/"),
        ("settings-github", "/apps/shop/settings/github/"),
        ("notifications", "/apps/shop/notifications/"),
        ("ci-tokens", "/apps/shop/ci-tokens/"),
        ("ci-token-revoke", f"/apps/shop/ci-tokens/{token.pk}/revoke/"),
    ]:
        page.goto(site + path)
        measure(name)
    # A form sent back with its errors.
    page.goto(site + "/apps/shop/settings/targets/new/")
    page.get_by_label("Slug").fill("qa")
    page.get_by_label("Name", exact=True).fill("QA")
    page.get_by_label("Heroku app").fill("Not_A_Valid_Heroku_Name")
    page.get_by_role("button", name="Add target").click()
    page.locator("#form-errors").wait_for()
    measure("settings-target-errors")
    # A deployer refused the settings, and the login page of someone signed out.
    deployer = open_as("deployer", width=PHONE, height=800)
    deployer.goto(site + "/apps/shop/settings/")
    widths["settings-refused"] = _width(deployer)
    shot(deployer, "phone-settings-refused")
    visitor = browser.new_context(viewport={"width": PHONE, "height": 800}).new_page()
    visitor.goto(site + "/accounts/login/")
    widths["login"] = _width(visitor)
    shot(visitor, "phone-login")
    visitor.context.close()

    assert {name: width for name, width in widths.items() if width > PHONE} == {}
    assert len(widths) == 24  # every page above was measured
