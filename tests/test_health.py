"""Verified deploys: after a successful push the worker polls the target's health URL until it
answers 2xx three times in a row (healthy) or health_timeout passes (unhealthy); an unhealthy
deployment is audited and notified, and with auto_rollback rolled back by `system`.

Real git repositories and remotes, the worker's side run in this process, and loopback health
servers (allowed by OUTBOUND_ALLOWED_NETWORKS, as an operator would allow a private network).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.urls import reverse

from deployments.engine import health
from deployments.models import Deployment
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.cd_helpers import Receiver, drain
from tests.gitutil import remote_head
from tests.helpers import log_text, post_data

DEPLOYS = "/api/apps/shop/targets/staging/deployments"
TARGET = "/api/apps/shop/targets/staging"


@pytest.fixture(autouse=True)
def loopback_allowed(settings) -> None:
    """The health servers listen on loopback, which outgoing HTTP may reach only when allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def server() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


@pytest.fixture
def deploy(api, django_capture_on_commit_callbacks) -> Callable[..., Deployment]:
    """Request a deployment and run every task it leads to (a rollback queued after commit too)."""

    def request(ref: str) -> Deployment:
        with django_capture_on_commit_callbacks(execute=True):
            response = api("deployer").post(DEPLOYS, {"ref": ref})
        assert response.status_code == 202, response.content
        drain(django_capture_on_commit_callbacks)
        return Deployment.objects.get(pk=response.json()["id"])

    return request


def check_health(api, *, timeout: int = 2, **fields) -> None:
    """Set the staging target's health check through the API; then a short timeout straight in the
    database (the API takes 5 s at least: these tests need not wait that long for a verdict)."""
    response = api("app_admin").call("patch", TARGET, fields)
    assert response.status_code == 200, response.content
    Target.objects.filter(slug="staging").update(health_timeout=timeout)


def unhealthy_events(deployment: Deployment) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="deployment.unhealthy", deployment=deployment.pk))


def test_a_deployment_whose_health_url_answers_2xx_three_times_in_a_row_is_healthy(app, api, repo, deploy, server):
    check_health(api, health_url=server.url)

    deployment = deploy(repo.shas[-1])

    assert deployment.status == "succeeded"
    assert deployment.health == "healthy"
    assert server.hits == 3
    probes = [line for line in log_text(deployment).splitlines() if "Health check " in line]
    assert len(probes) == 3 and all("HTTP 200" in line and " ms" in line and " UTC" in line for line in probes)
    answer = api("viewer").get(f"/api/deployments/{deployment.pk}").json()
    assert answer["health"] == "healthy"
    assert not unhealthy_events(deployment)


def test_a_target_without_a_health_url_is_not_checked(app, api, repo, deploy):
    deployment = deploy(repo.shas[-1])

    assert deployment.health is None
    assert api("viewer").get(f"/api/deployments/{deployment.pk}").json()["health"] is None


def test_an_unhealthy_deployment_without_auto_rollback_is_audited_and_notified_and_stays_succeeded(
    app, api, repo, remote, deploy, server
):
    with Receiver() as hook:
        added = api("app_admin").post("/api/apps/shop/webhooks", {"name": "ops", "url": hook.url, "format": "json"})
        assert added.status_code == 201, added.content
        deploy(repo.shas[-2])
        server.answer = lambda: 503
        check_health(api, health_url=server.url)

        deployment = deploy(repo.shas[-1])

        assert deployment.status == "succeeded"
        assert deployment.health == "unhealthy"
        assert remote_head(remote) == repo.shas[-1]
        assert "HTTP 503" in log_text(deployment)
        assert "Not rolled back automatically: auto_rollback is off" in log_text(deployment)
        [event] = unhealthy_events(deployment)
        assert event.actor == "system" and "unhealthy" in event.detail
        assert Deployment.objects.count() == 2  # nothing rolled back
        [alert] = [r["json"] for r in hook.received if r["json"]["event"] == "deployment.unhealthy"]
        assert alert["deployment"]["id"] == deployment.pk
        assert alert["deployment"]["health"] == "unhealthy"
        assert (
            "is unhealthy" in alert["text"] and "HTTP 503" in alert["text"] and "auto_rollback is off" in alert["text"]
        )


def test_an_unhealthy_deployment_with_auto_rollback_is_rolled_back_by_system_to_the_commit_live_before(
    app, api, repo, remote, deploy, server
):
    good, bad = repo.shas[-2], repo.shas[-1]
    deploy(good)
    server.answer = lambda: 500 if remote_head(remote) == bad else 200  # the app breaks with `bad` only
    check_health(api, health_url=server.url, auto_rollback=True)

    broken = deploy(bad)

    broken.refresh_from_db()
    assert (broken.status, broken.health) == ("succeeded", "unhealthy")
    rollback = Deployment.objects.exclude(pk__lte=broken.pk).get()
    assert rollback.requested_by_name == "system"
    assert rollback.kind == "rollback"
    assert rollback.sha == good
    assert rollback.note == f"automatic rollback: health check failed on #{broken.pk}"
    assert rollback.status == "succeeded", rollback.reason
    assert rollback.health == "healthy"  # it is checked like any deployment
    assert remote_head(remote) == good
    assert Target.objects.get(slug="staging").live_sha == good
    assert f"Automatic rollback #{rollback.pk} to {good[:7]} is queued" in log_text(broken)
    # deployment.unhealthy first, then the rollback's own events, all by system
    events = list(
        AuditEvent.objects.filter(deployment__in=[broken.pk, rollback.pk], id__gt=unhealthy_events(broken)[0].id - 1)
        .order_by("id")
        .values_list("action", "actor", "deployment")
    )
    assert events[0] == ("deployment.unhealthy", "system", broken.pk)
    assert events[1] == ("deployment.requested", "system", rollback.pk)
    assert ("deployment.succeeded", "system", rollback.pk) in events


def test_an_unhealthy_rollback_only_alerts_and_is_never_rolled_back_again(app, api, repo, remote, deploy, server):
    deploy(repo.shas[-2])
    server.answer = lambda: 500  # broken whatever is deployed
    check_health(api, health_url=server.url, auto_rollback=True)

    broken = deploy(repo.shas[-1])

    rollback = Deployment.objects.exclude(pk__lte=broken.pk).get()  # one, and only one
    assert rollback.sha == repo.shas[-2] and rollback.status == "succeeded"
    assert rollback.health == "unhealthy"
    assert "a rollback is never rolled back automatically" in log_text(rollback)
    assert len(unhealthy_events(broken)) == len(unhealthy_events(rollback)) == 1
    assert remote_head(remote) == repo.shas[-2]


def test_an_unhealthy_first_deployment_has_nothing_to_return_to_and_only_alerts(app, api, repo, deploy, server):
    server.answer = lambda: 500
    check_health(api, health_url=server.url, auto_rollback=True)

    deployment = deploy(repo.shas[-1])

    assert deployment.health == "unhealthy"
    assert Deployment.objects.count() == 1
    assert "nothing different was live on Staging before it" in log_text(deployment)
    assert len(unhealthy_events(deployment)) == 1


def test_an_unhealthy_deployment_on_a_locked_target_only_alerts(app, api, repo, deploy, server):
    deploy(repo.shas[-2])
    broken = deploy(repo.shas[-1])  # no health URL yet: pushed, unchecked
    server.answer = lambda: 500
    check_health(api, health_url=server.url, auto_rollback=True)
    locked = api("deployer").post(f"{TARGET}/lock", {"reason": "investigating the outage"})
    assert locked.status_code == 201, locked.content

    assert health.check_after_push(broken) == "unhealthy"  # the worker's step after the push

    assert Deployment.objects.count() == 2
    assert "locked by deployer (investigating the outage)" in log_text(broken)
    assert len(unhealthy_events(broken)) == 1


def test_a_deployment_no_longer_live_when_found_unhealthy_is_not_rolled_back(app, api, repo, deploy, server):
    deploy(repo.shas[-3])
    broken = deploy(repo.shas[-2])
    deploy(repo.shas[-1])  # a later deployment went out meanwhile
    server.answer = lambda: 500
    check_health(api, health_url=server.url, auto_rollback=True)

    assert health.check_after_push(broken) == "unhealthy"

    assert Deployment.objects.count() == 3
    assert "it is no longer the live deployment" in log_text(broken)


def test_a_redirect_from_the_health_url_is_not_followed_and_counts_as_a_failure(app, api, repo, deploy):
    with Receiver() as elsewhere, Receiver(answer=lambda: 302) as redirecting:
        redirecting.location = elsewhere.url
        check_health(api, health_url=redirecting.url)

        deployment = deploy(repo.shas[-1])

        assert deployment.health == "unhealthy"
        assert redirecting.hits >= 2
        assert elsewhere.hits == 0
        assert "redirects are not followed" in log_text(deployment)


def test_a_health_url_to_loopback_is_refused_when_saved_unless_the_network_is_allowed(app, api, settings, server):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    admin = api("app_admin")

    changed = admin.call("patch", TARGET, {"health_url": server.url})
    created = admin.post(
        "/api/apps/shop/targets",
        {"slug": "canary", "name": "Canary", "heroku_app": "shop-canary", "health_url": server.url},
    )

    for refused in (changed, created):
        assert refused.status_code == 400, refused.content
        assert refused.json()["detail"].startswith("health_url: its host 127.0.0.1 resolves to a loopback address")
    assert Target.objects.get(slug="staging").health_url == ""
    assert not Target.objects.filter(slug="canary").exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"health_timeout": 4}, "health_timeout"),
        ({"health_timeout": 3601}, "health_timeout"),
        ({"health_url": "ftp://127.0.0.1/health"}, "health_url"),
        ({"health_url": "http://user:secret@127.0.0.1/health"}, "health_url"),
        ({"health_url": "not a url"}, "health_url"),
    ],
)
def test_bad_health_settings_are_refused_with_a_sentence_naming_the_field(app, api, fields, field):
    response = api("app_admin").call("patch", TARGET, fields)

    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(f"{field}:")
    target = Target.objects.get(slug="staging")
    assert (target.health_url, target.health_timeout) == ("", 60)


def test_the_admin_refuses_a_health_url_outside_the_outgoing_http_rule_and_saves_an_allowed_one(
    app, staff, settings, server
):
    url = reverse("admin:projects_target_change", args=[app.targets.get().pk])
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    refused = staff.post(url, post_data(staff.get(url), health_url=server.url, auto_rollback="on"))

    assert refused.status_code == 200
    assert "resolves to a loopback address" in str(refused.context["adminform"].form.errors["health_url"])
    assert Target.objects.get(slug="staging").health_url == ""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    saved = staff.post(url, post_data(staff.get(url), health_url=server.url, health_timeout="30", auto_rollback="on"))

    assert saved.status_code == 302
    target = Target.objects.get(slug="staging")
    assert (target.health_url, target.health_timeout, target.auto_rollback) == (server.url, 30, True)
    assert AuditEvent.objects.filter(action="target.changed", source="admin", detail__contains="health_url").exists()


def test_the_target_api_answers_the_health_settings(app, api, server):
    response = api("app_admin").call(
        "patch", TARGET, {"health_url": server.url, "health_timeout": 30, "auto_rollback": True}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["health_url"], body["health_timeout"], body["auto_rollback"]) == (server.url, 30, True)
    [listed] = [t for a in api("viewer").get("/api/apps").json() for t in a["targets"]]
    assert listed["health_url"] == server.url
    assert AuditEvent.objects.filter(action="target.changed", detail__contains="health_url").exists()


def test_a_health_url_refused_at_send_is_a_failed_probe(app, api, repo, deploy, settings, server):
    check_health(api, health_url=server.url)
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # the operator no longer allows it

    deployment = deploy(repo.shas[-1])

    assert deployment.health == "unhealthy"
    assert server.hits == 0
    assert "The health URL was not called" in log_text(deployment)


def test_the_deployment_page_shows_the_health_and_the_dashboard_marks_an_unhealthy_live_commit(
    app, api, repo, deploy, server, browser_client
):
    server.answer = lambda: 500
    check_health(api, health_url=server.url)
    deployment = deploy(repo.shas[-1])
    viewer = browser_client("viewer")

    page = viewer.get(f"/deployments/{deployment.pk}/").content.decode()
    dashboard = viewer.get("/").content.decode()

    assert 'id="health"' in page and "unhealthy" in page
    assert "✖ unhealthy" in dashboard


def test_an_automatic_rollback_needs_no_approval_and_no_green_ci(
    app, api, repo, remote, deploy, server, django_capture_on_commit_callbacks
):
    good, bad = repo.shas[-2], repo.shas[-1]
    deploy(good)
    broken = deploy(bad)  # no health URL yet: pushed, unchecked
    Target.objects.filter(slug="staging").update(require_approval=True, require_ci=True)  # no CI status at all
    server.answer = lambda: 500 if remote_head(remote) == bad else 200
    check_health(api, health_url=server.url, auto_rollback=True)

    with django_capture_on_commit_callbacks(execute=True):
        assert health.check_after_push(broken) == "unhealthy"  # the worker's step after the push
    rollback = Deployment.objects.exclude(pk__lte=broken.pk).get()
    assert rollback.status == "queued"  # not pending_approval
    drain(django_capture_on_commit_callbacks)

    rollback.refresh_from_db()
    assert rollback.status == "succeeded", rollback.reason
    assert remote_head(remote) == good
    assert AuditEvent.objects.filter(action="deployment.ci_override", deployment=rollback.pk, actor="system").exists()


def test_the_deployment_page_keeps_following_a_succeeded_deployment_while_its_health_is_checked(
    app, api, repo, deploy, browser_client
):
    deployment = deploy(repo.shas[-1])
    Deployment.objects.filter(pk=deployment.pk).update(health="checking")  # as the worker leaves it mid-check
    viewer = browser_client("viewer")

    page = viewer.get(f"/deployments/{deployment.pk}/").content.decode()
    tail = viewer.get(f"/deployments/{deployment.pk}/tail?after=0").json()

    assert "data-checking" in page
    assert tail["status"] == "succeeded" and tail["finished"] is False
    assert "checking" in tail["facts"]
    Deployment.objects.filter(pk=deployment.pk).update(health="healthy")
    assert viewer.get(f"/deployments/{deployment.pk}/tail?after=0").json()["finished"] is True
