"""Single sign-on in a real headless Chromium: one click on the login page, the provider's page,
and back on the dashboard signed in, with the team the provider's groups map to."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from portal.audit.models import AuditEvent
from tests.test_browser_pages import WAIT_MS, browser  # noqa: F401 - fixture: Chromium
from tests.test_oidc import account, provider, sso  # noqa: F401 - fixtures: the provider, its settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_person_signs_in_with_the_provider_and_reaches_the_dashboard(browser, sso, live_server):  # noqa: F811
    account(sso, "erin-sub", preferred_username="erin", email="erin@example.com", groups=["sre"])
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_role("link", name="Sign in with Test IdP").click()

        page.get_by_label("Account").fill("erin-sub")  # the test provider's own login page
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(live_server.url + "/")

        assert "erin" in page.content()
        erin = get_user_model().objects.get(username="erin")
        assert set(erin.groups.values_list("name", flat=True)) == {"On-call"}
        assert AuditEvent.objects.filter(action="auth.login", actor="erin", source="sso").count() == 1
    finally:
        context.close()
