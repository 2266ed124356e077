"""The app settings pages: app admins manage targets, access, webhooks, CI tokens and the GitHub
secret from pages, through the API's services; bad input shows beside its field and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from deployments.models import Delivery, Webhook
from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects import mirror
from projects.models import Access, Role, Target
from tests.cd_helpers import Receiver
from tests.helpers import post_data

NEW_TARGET = {
    "slug": "qa",
    "name": "QA",
    "heroku_app": "shop-qa",
    "push_ref": "refs/heads/main",
    "approval_minutes": "60",
    "health_timeout": "60",
    "rollbacks_during_freeze": "on",
}


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def edit_form(target: Target, **changes) -> dict:
    """The edit form of `target` as a browser posts it back unchanged, with `changes` applied."""
    data = {
        "name": target.name, "remote_url": target.remote_url, "heroku_app": target.heroku_app,
        "push_ref": target.push_ref, "required_contexts": ", ".join(target.required_contexts),
        "auto_deploy_branch": target.auto_deploy_branch, "approval_minutes": str(target.approval_minutes),
        "health_timeout": str(target.health_timeout), "health_url": target.health_url, "windows": "[]",
        **{name: "on" for name in ("protected", "require_ci", "require_approval", "rollbacks_during_freeze",
                                   "auto_rollback") if getattr(target, name)},
    }  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with Receiver() as endpoint:
        yield endpoint


def test_an_app_admin_adds_a_target_with_its_ci_and_approval_rules(app, browser_client):
    admin = browser_client("app_admin")
    form = {**NEW_TARGET, "require_ci": "on", "required_contexts": "ci/tests, lint ,", "require_approval": "on",
            "approval_minutes": "30", "auto_deploy_branch": "main", "protected": "on"}  # fmt: skip

    response = admin.post("/apps/shop/settings/targets/new/", form)

    assert response.status_code == 302 and response["Location"] == "/apps/shop/settings/"
    made = Target.objects.get(app=app, slug="qa")
    assert (made.heroku_app, made.protected, made.require_ci, made.required_contexts) == (
        "shop-qa",
        True,
        True,
        ["ci/tests", "lint"],
    )
    assert (made.require_approval, made.approval_minutes, made.auto_deploy_branch) == (True, 30, "main")
    [event] = events("target.created")
    assert (event.actor, event.source, event.target) == ("app_admin", "web", "qa")
    assert "QA" in admin.get("/apps/shop/settings/").content.decode()


def test_a_bad_heroku_name_shows_beside_its_field_and_adds_nothing(app, browser_client):
    response = browser_client("app_admin").post(
        "/apps/shop/settings/targets/new/", {**NEW_TARGET, "heroku_app": "Bad_Name"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"heroku_app": ["Not a valid Heroku app name."]}
    page = response.content.decode()
    assert "Nothing was saved" in page and "Not a valid Heroku app name." in page
    assert not Target.objects.filter(slug="qa").exists() and events("target.created") == []


def test_an_app_admin_may_not_point_a_target_at_a_remote_staff_did_not_allow(app, browser_client):
    response = browser_client("app_admin").post(
        "/apps/shop/settings/targets/new/", {**NEW_TARGET, "heroku_app": "", "remote_url": "/srv/elsewhere.git"}
    )

    assert response.status_code == 403
    assert "allowed_remotes" in " ".join(response.context["form"].errors["remote_url"])
    assert not Target.objects.filter(slug="qa").exists()


def test_an_app_admin_protects_a_target_whose_remote_staff_chose(app, browser_client):
    target = app.targets.get()
    admin = browser_client("app_admin")
    assert admin.get("/apps/shop/settings/targets/staging/").status_code == 200

    response = admin.post(
        "/apps/shop/settings/targets/staging/", edit_form(target, protected="on", required_contexts="build")
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.protected, target.required_contexts, target.remote_url) == (
        True,
        ["build"],
        app.targets.get().remote_url,
    )
    [event] = events("target.changed")
    assert "protected: False → True" in event.detail


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"windows": '[{"kind": "sometimes", "schedule": "0 9 * * *", "duration": "1h", "timezone": "UTC"}]'},
            "windows",
        ),
        ({"health_url": "http://127.0.0.1:9/health"}, "health_url"),
        ({"windows": "[not json"}, "windows"),
        ({"approval_minutes": "0"}, "approval_minutes"),
        ({"name": ""}, "name"),
    ],
)
def test_a_refused_change_names_its_field_and_changes_nothing(app, browser_client, change, field):
    target = app.targets.get()
    before = {f.name: getattr(target, f.name) for f in Target._meta.concrete_fields}

    response = browser_client("app_admin").post(
        "/apps/shop/settings/targets/staging/", edit_form(target, protected="on", **change)
    )

    assert response.status_code == 400
    assert list(response.context["form"].errors) == [field]
    target.refresh_from_db()
    assert {f.name: getattr(target, f.name) for f in Target._meta.concrete_fields} == before
    assert events("target.changed") == []


@pytest.mark.parametrize("role", ["viewer", "deployer"])
def test_viewers_and_deployers_are_refused_with_the_names_of_the_admins_to_ask(app, browser_client, role):
    for path in ("/apps/shop/settings/", "/apps/shop/settings/access/", "/apps/shop/settings/github/"):
        response = browser_client(role).get(path)
        assert response.status_code == 403, path
        page = response.content.decode()
        assert "You need the admin role on this app" in page
        assert "Its admin is <strong>app_admin</strong>." in page
    assert len(events("denied")) == 3


def test_an_app_the_user_cannot_see_is_not_found(app, browser_client):
    assert browser_client("outsider").get("/apps/shop/settings/").status_code == 404
    assert browser_client("app_admin").get("/apps/shop/settings/targets/nothing/").status_code == 404


def test_a_viewer_told_to_ask_an_admin_sees_who_the_admins_are(app, browser_client, users, settings):
    settings.MIRROR_MAX_AGE = 3600  # no background fetch
    mirror.sync(app)
    ops = Group.objects.create(name="ops")
    users["outsider"].groups.add(ops)
    Access.objects.create(app=app, team=ops, role=Role.ADMIN)

    page = browser_client("viewer").get("/apps/shop/").content.decode()

    admins = "Its admins are <strong>app_admin</strong>, <strong>outsider</strong>."
    assert f'ask one of its admins. <span class="admins">{admins}' in page
    assert "staff" not in page.split('class="admins"')[1].split("</span>")[0]


def test_the_access_page_grants_changes_and_revokes_people_and_teams(app, browser_client):
    Group.objects.create(name="ops")
    admin = browser_client("app_admin")
    grant = "/apps/shop/settings/access/"

    assert admin.post(grant, {"kind": "user", "name": "outsider", "role": "viewer"}).status_code == 302
    changed = {"kind": "user", "name": "outsider", "role": "deployer", "deploy_protected": "on"}
    assert admin.post(grant, changed).status_code == 302
    assert admin.post(grant, {"kind": "team", "name": "ops", "role": "deployer"}).status_code == 302
    page = admin.get("/apps/shop/settings/access/").content.decode()
    assert "Change outsider" in page and "Remove team ops" in page
    assert admin.post("/apps/shop/settings/access/revoke/", {"kind": "team", "name": "ops"}).status_code == 302

    grant = Access.objects.get(app=app, user__username="outsider")
    assert (grant.role, grant.deploy_protected) == ("deployer", True)
    assert not Access.objects.filter(app=app, team__name="ops").exists()
    assert [e.detail for e in events("access.granted")] == [
        "Granted viewer to outsider.",
        "Granted deployer to team ops.",
    ]
    assert [e.detail for e in events("access.changed")] == [
        "Changed outsider from viewer to deployer + deploy_protected."
    ]
    assert [e.detail for e in events("access.revoked")] == ["Revoked team ops's access."]


def test_granting_someone_who_does_not_exist_says_so_and_changes_nothing(app, browser_client):
    grants = Access.objects.count()

    response = browser_client("app_admin").post(
        "/apps/shop/settings/access/", {"kind": "user", "name": "nobody", "role": "superhero"}
    )
    assert response.status_code == 400 and "role" in response.context["form"].errors
    response = browser_client("app_admin").post(
        "/apps/shop/settings/access/", {"kind": "user", "name": "nobody", "role": "viewer"}
    )

    assert response.status_code == 404
    assert "No user named &#x27;nobody&#x27;." in response.content.decode()
    assert Access.objects.count() == grants and events("access.granted") == []


def test_the_github_page_shows_the_payload_url_and_saves_a_secret_write_only(app, browser_client, settings):
    settings.SITE_URL = "https://deploy.example.com"
    admin = browser_client("app_admin")

    page = admin.get("/apps/shop/settings/github/").content.decode()
    assert "https://deploy.example.com/hooks/github/shop" in page and "No secret is saved yet" in page
    short = admin.post("/apps/shop/settings/github/", {"secret": "too-short"})
    assert short.status_code == 400 and short.context["form"].errors == {"secret": ["Use at least 16 characters."]}
    app.refresh_from_db()
    assert app.github_secret == ""
    assert admin.post("/apps/shop/settings/github/", {"secret": "a-secret-long-enough-1"}).status_code == 302

    app.refresh_from_db()
    assert app.github_secret == "a-secret-long-enough-1"
    page = admin.get("/apps/shop/settings/github/").content.decode()
    assert "A secret is saved" in page and "a-secret-long-enough-1" not in page


def test_an_app_admin_adds_a_slack_webhook_and_a_test_message_arrives(app, browser_client, receiver):
    admin = browser_client("app_admin")

    added = admin.post(
        "/apps/shop/notifications/webhooks/", {"name": "deploys", "url": receiver.url, "format": "slack"}
    )
    assert added.status_code == 201 and "Send a test to deploys" in added.content.decode()
    webhook = Webhook.objects.get(app=app)
    tested = admin.post(f"/apps/shop/notifications/webhooks/{webhook.pk}/test/", follow=True)

    assert "Test sent to deploys: HTTP 200." in tested.content.decode()
    [message] = receiver.received
    assert "a test message from Bartender, sent by app_admin" in message["json"]["text"]
    [delivery] = Delivery.objects.all()
    assert (delivery.event, delivery.state, delivery.status_code) == ("test", "delivered", 200)
    assert "<td>test</td><td>1</td><td>delivered</td>" in tested.content.decode()


def test_a_failed_test_message_says_why_and_is_not_retried(app, browser_client, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with Receiver(codes=[500]) as failing:
        admin = browser_client("app_admin")
        admin.post("/apps/shop/notifications/webhooks/", {"name": "broken", "url": failing.url, "format": "json"})
        webhook = Webhook.objects.get(app=app)
        tested = admin.post(f"/apps/shop/notifications/webhooks/{webhook.pk}/test/", follow=True)

    assert "The test to broken failed: The endpoint answered HTTP 500." in tested.content.decode()
    assert list(Delivery.objects.values_list("state", flat=True)) == ["failed"]


def test_a_webhook_url_that_is_not_allowed_is_refused_on_the_page(app, browser_client):
    response = browser_client("app_admin").post(
        "/apps/shop/notifications/webhooks/", {"name": "x", "url": "ftp://example.com/", "format": "slack"}
    )

    assert response.status_code == 400
    assert "Nothing was added: url: must be an https URL" in response.content.decode()
    assert not Webhook.objects.exists()


def test_revoking_a_ci_token_asks_first(app, browser_client, users):
    admin = browser_client("app_admin")
    made = admin.post("/apps/shop/ci-tokens/", {"name": "Buildkite"}).content.decode()
    assert 'data-copy="new-token"' in made  # a copy button beside the new token
    [token] = ApiToken.objects.filter(ci_app=app)

    asked = admin.get(f"/apps/shop/ci-tokens/{token.pk}/revoke/")

    assert asked.status_code == 200 and "Revoke the CI token “Buildkite”?" in asked.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert admin.post(f"/apps/shop/ci-tokens/{token.pk}/revoke/").status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_revoking_an_api_token_on_the_profile_asks_first(users, browser_client):
    client = browser_client("deployer")
    made = client.post("/accounts/profile/tokens/", {"name": "laptop"}).content.decode()
    assert 'data-copy="new-token"' in made
    token = ApiToken.objects.get(user=users["deployer"], name="laptop")
    profile = client.get("/accounts/profile/").content.decode()
    assert f'href="/accounts/profile/tokens/{token.pk}/revoke/"' in profile  # a link to the question, no form

    asked = client.get(f"/accounts/profile/tokens/{token.pk}/revoke/")

    assert "Revoke the token “laptop”?" in asked.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert client.post(f"/accounts/profile/tokens/{token.pk}/revoke/").status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_the_app_page_links_settings_for_admins_only(app, browser_client, settings):
    settings.MIRROR_MAX_AGE = 3600
    mirror.sync(app)
    assert 'href="/apps/shop/settings/"' in browser_client("app_admin").get("/apps/shop/").content.decode()
    assert 'href="/apps/shop/settings/"' not in browser_client("deployer").get("/apps/shop/").content.decode()


def test_settings_pages_link_each_other_and_the_notifications_and_ci_token_pages(app, browser_client):
    admin = browser_client("app_admin")
    for path in ("/apps/shop/settings/", "/apps/shop/notifications/", "/apps/shop/ci-tokens/",
                 "/apps/shop/settings/access/", "/apps/shop/settings/github/"):  # fmt: skip
        page = admin.get(path).content.decode()
        for link in ("/apps/shop/settings/", "/apps/shop/settings/access/", "/apps/shop/notifications/",
                     "/apps/shop/ci-tokens/", "/apps/shop/settings/github/"):  # fmt: skip
            assert f'href="{link}"' in page, (path, link)


def test_the_django_admin_is_bartenders_with_teams_and_without_the_queue_tables(staff):
    index = staff.get("/admin/").content.decode()

    assert "Bartender administration" in index
    assert "Teams" in index and ">Groups<" not in index
    assert "/admin/django_q/" not in index and "Failed tasks" not in index


def test_required_contexts_is_a_comma_separated_list_in_the_admin(app, staff):
    target = app.targets.get()
    url = f"/admin/projects/target/{target.pk}/change/"
    form = staff.get(url)
    assert (
        'name="required_contexts"' in form.content.decode()
        and "<textarea" not in form.content.decode().split('name="required_contexts"')[0].rsplit("<", 1)[-1]
    )

    response = staff.post(url, post_data(form, required_contexts="ci/tests, lint"))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    target.refresh_from_db()
    assert target.required_contexts == ["ci/tests", "lint"]
    assert 'value="ci/tests, lint"' in staff.get(url).content.decode()


def test_the_audit_page_says_when_no_event_matches_and_its_table_scrolls_inside_itself(app, browser_client):
    page = browser_client("app_admin").get("/audit/?user=nobody-at-all").content.decode()

    assert "No events match." in page
    assert '<div class="table-wrap"' in page
    assert page.count('<form method="get"') == 1  # one filter bar


def test_any_403_on_an_apps_pages_names_the_admins_to_ask(app, browser_client):
    page = browser_client("deployer").get("/apps/shop/ci-tokens/")

    assert page.status_code == 403
    assert "Its admin is <strong>app_admin</strong>." in page.content.decode()


def test_a_settings_form_posted_without_its_csrf_token_is_refused(app, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["app_admin"])

    response = client.post("/apps/shop/settings/access/", {"kind": "user", "name": "outsider", "role": "admin"})

    assert response.status_code == 403
    assert not Access.objects.filter(app=app, user__username="outsider").exists()
