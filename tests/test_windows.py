"""Deploy windows: targets take `windows` (and `rollbacks_during_freeze`); a deploy request
outside them is refused with the reason and when deploying opens; an app admin may override."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects import windows
from projects.models import Target
from tests.helpers import post_data

TARGET = "/api/apps/shop/targets/staging"
DEPLOYS = f"{TARGET}/deployments"
BERLIN_OFFICE = {"kind": "allow", "schedule": "0 9 * * 1-5", "duration": "8h", "timezone": "Europe/Berlin"}
LUNCH = {"kind": "deny", "schedule": "0 12 * * *", "duration": "1h", "timezone": "UTC", "reason": "lunch rush"}
# Monday 7 December 2026; Berlin is on CET (UTC+1).
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


def set_windows(*found: dict, **fields) -> Target:
    Target.objects.filter(slug="staging").update(windows=windows.clean_windows(list(found)), **fields)
    return Target.objects.get(slug="staging")


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({**BERLIN_OFFICE, "schedule": "0 9 * *"}, "windows[0].schedule"),
        ({**BERLIN_OFFICE, "schedule": "0 25 * * *"}, "windows[0].schedule"),
        ({**BERLIN_OFFICE, "duration": "8 hours"}, "windows[0].duration"),
        ({**BERLIN_OFFICE, "duration": "0m"}, "windows[0].duration"),
        ({**BERLIN_OFFICE, "timezone": "Europe/Atlantis"}, "windows[0].timezone"),
        ({**BERLIN_OFFICE, "kind": "maybe"}, "windows[0].kind"),
    ],
)
def test_a_bad_window_is_a_400_naming_its_field_and_changes_nothing(app, api, window, field):
    response = api("app_admin").call("patch", TARGET, {"windows": [LUNCH, window], "name": "Renamed"})

    assert response.status_code == 400
    assert response.json()["detail"].startswith(field.replace("[0]", "[1]") + ":")
    staging = Target.objects.get(slug="staging")
    assert (staging.windows, staging.name) == ([], "Staging")


def test_a_new_target_with_a_bad_zone_is_a_400_and_is_not_created(app, api):
    body = {"slug": "qa", "name": "QA", "heroku_app": "shop-qa", "windows": [{**LUNCH, "timezone": "Mars/Olympus"}]}

    response = api("app_admin").post("/api/apps/shop/targets", body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("windows[0].timezone:")
    assert not Target.objects.filter(slug="qa").exists()


def test_windows_and_rollbacks_during_freeze_are_saved_and_answered(app, api):
    response = api("app_admin").call(
        "patch", TARGET, {"windows": [BERLIN_OFFICE, LUNCH], "rollbacks_during_freeze": False}
    )

    assert response.status_code == 200, response.content
    assert response.json()["windows"][0]["schedule"] == "0 9 * * 1-5"
    assert response.json()["rollbacks_during_freeze"] is False
    staging = Target.objects.get(slug="staging")
    assert [w["kind"] for w in staging.windows] == ["allow", "deny"]
    assert staging.rollbacks_during_freeze is False
    assert AuditEvent.objects.filter(action="target.changed", target="staging").exists()


def test_a_deny_window_refuses_a_deploy_with_its_reason_and_end(app, api, clock):
    set_windows(LUNCH)
    clock.set(MONDAY.replace(hour=12, minute=30))

    response = api("deployer").post(DEPLOYS, {"ref": "main"})

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "lunch rush" in detail
    assert "until Mon 13:00 UTC" in detail
    assert not Deployment.objects.exists()


def test_outside_its_allow_windows_a_deploy_is_refused_saying_when_it_opens(app, api, clock):
    set_windows(BERLIN_OFFICE)
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))  # a Saturday

    response = api("deployer").post(DEPLOYS, {"ref": "main"})

    assert response.status_code == 409
    assert "Outside the deploy windows of Staging: opens Mon 09:00 CET (08:00 UTC)" in response.json()["detail"]


def test_inside_an_allow_window_a_deploy_is_accepted(app, api, clock):
    set_windows(BERLIN_OFFICE, LUNCH)
    clock.set(MONDAY.replace(hour=9, minute=15))

    assert api("deployer").post(DEPLOYS, {"ref": "main"}).status_code == 202


def test_a_deny_window_wins_over_an_allow_window(app, api, clock):
    set_windows(BERLIN_OFFICE, LUNCH)
    clock.set(MONDAY.replace(hour=12, minute=10))

    response = api("deployer").post(DEPLOYS, {"ref": "main"})

    assert response.status_code == 409
    assert "lunch rush" in response.json()["detail"]


def test_windows_follow_summer_time_in_their_zone(app):
    staging = set_windows(BERLIN_OFFICE)

    summer_monday = datetime(2026, 6, 8, 7, 30, tzinfo=UTC)  # 09:30 CEST
    winter_monday = MONDAY.replace(hour=7, minute=30)  # 08:30 CET

    assert windows.closed(staging, at=summer_monday) is None
    closed = windows.closed(staging, at=winter_monday)
    assert closed is not None and closed.opens_at == MONDAY.replace(hour=8)


def test_an_app_admin_may_deploy_outside_the_windows_with_a_reason_audited(app, api, clock):
    set_windows(BERLIN_OFFICE)
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))

    response = api("app_admin").post(DEPLOYS, {"ref": "main", "window_override_reason": "hotfix for incident 7"})

    assert response.status_code == 202, response.content
    deployment = Deployment.objects.get()
    assert deployment.window_override.startswith("hotfix for incident 7")
    event = AuditEvent.objects.get(action="deployment.window_override")
    assert (event.actor, event.deployment) == ("app_admin", deployment.pk)
    assert "hotfix for incident 7" in event.detail


def test_a_deployer_may_not_override_the_windows(app, api, clock):
    set_windows(BERLIN_OFFICE)
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))

    response = api("deployer").post(DEPLOYS, {"ref": "main", "window_override_reason": "I know better"})

    assert response.status_code == 403
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(action="denied", actor="deployer").count() == 1
    assert not AuditEvent.objects.filter(action="deployment.window_override").exists()


def test_pages_show_that_deploying_is_closed_and_when_it_opens(app, browser_client, clock):
    set_windows(BERLIN_OFFICE)
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))
    client = browser_client("deployer")
    words = "Outside deploy windows: opens Mon 09:00 CET (08:00 UTC)"

    for url in ("/", "/apps/shop/", "/apps/shop/targets/staging/", "/apps/shop/targets/staging/deploy/?ref=main"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert words in response.content.decode(), url


def test_the_confirmation_offers_the_override_to_app_admins_only(app, browser_client, clock):
    set_windows(BERLIN_OFFICE)
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))
    url = "/apps/shop/targets/staging/deploy/?ref=main"

    assert 'name="window_override_reason"' in browser_client("app_admin").get(url).content.decode()
    assert 'name="window_override_reason"' not in browser_client("deployer").get(url).content.decode()


def test_an_app_admin_overrides_from_the_deploy_form(app, browser_client, clock):
    set_windows(BERLIN_OFFICE)
    clock.set(datetime(2026, 12, 5, 10, tzinfo=UTC))

    response = browser_client("app_admin").post(
        "/apps/shop/targets/staging/deploy/", {"ref": "main", "window_override_reason": "customer demo"}
    )

    assert response.status_code == 302
    assert Deployment.objects.get().window_override.startswith("customer demo")


def test_the_admin_target_form_refuses_a_bad_schedule(app, staff):
    url = f"/admin/projects/target/{Target.objects.get(slug='staging').pk}/change/"
    form = staff.get(url)
    data = post_data(form, windows='[{"kind": "deny", "schedule": "every day", "duration": "1h"}]')

    response = staff.post(url, data)

    assert response.status_code == 200  # the form again, with the error
    assert "windows[0].schedule" in response.content.decode()
    assert Target.objects.get(slug="staging").windows == []
