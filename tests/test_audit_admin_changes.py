"""Access changes made on the admin's team and user pages, and CI tokens revoked there, are audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Access, App, Role
from tests.helpers import post_data

NEW_PASSWORD = "a-Fresh-pass-9876"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-very-secret\n-----END OPENSSH PRIVATE KEY-----"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def blog(app, repo) -> App:
    return App.objects.create(slug="blog", name="Blog", repo_url=str(repo.path))


@pytest.fixture
def team(app, blog) -> Group:
    team = Group.objects.create(name="ops")
    Access.objects.create(app=app, team=team, role=Role.DEPLOYER)
    Access.objects.create(app=blog, team=team, role=Role.VIEWER)
    return team


def inline_rows(data: dict) -> tuple[str, dict[str, str]]:
    """The grants formset's prefix and its rows by app pk: {"<app pk>": "<prefix>-<n>"}."""
    [prefix] = [key[: -len("-TOTAL_FORMS")] for key in data if key.endswith("-TOTAL_FORMS")]
    rows = {value: key[: -len("-app")] for key, value in data.items() if key.endswith("-app") and value}
    return prefix, rows


# Team page: grants


def test_granting_changing_and_revoking_a_teams_access_on_its_page_leaves_one_event_each(app, blog, staff, repo, users):
    team = Group.objects.create(name="ops")
    Access.objects.create(app=app, team=team, role=Role.VIEWER)
    Access.objects.create(app=blog, team=team, role=Role.DEPLOYER)
    wiki = App.objects.create(slug="wiki", name="Wiki", repo_url=str(repo.path))
    url = reverse("admin:auth_group_change", args=[team.pk])

    data = post_data(staff.get(url))
    prefix, rows = inline_rows(data)
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total + 1),
            f"{prefix}-{total}-app": str(wiki.pk),
            f"{prefix}-{total}-team": str(team.pk),
            f"{prefix}-{total}-role": Role.ADMIN,
            f"{rows[str(app.pk)]}-role": Role.DEPLOYER,
            f"{rows[str(app.pk)]}-deploy_protected": "on",
            f"{rows[str(blog.pk)]}-DELETE": "on",
        }
    )
    response = staff.post(url, data)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    assert {(a.app.slug, a.role, a.deploy_protected) for a in Access.objects.filter(team=team)} == {
        ("shop", Role.DEPLOYER, True),
        ("wiki", Role.ADMIN, False),
    }
    [granted], [changed], [revoked] = events("access.granted"), events("access.changed"), events("access.revoked")
    assert (granted.app, granted.detail) == ("wiki", "Granted admin to team ops.")
    assert (changed.app, changed.detail) == ("shop", "Changed team ops from viewer to deployer + deploy_protected.")
    assert (revoked.app, revoked.detail) == ("blog", "Revoked team ops's access.")
    assert {(e.actor, e.source) for e in (granted, changed, revoked)} == {("staff", "admin")}


def test_saving_a_teams_page_without_changes_leaves_no_event(team, staff):
    url = reverse("admin:auth_group_change", args=[team.pk])

    assert staff.post(url, post_data(staff.get(url))).status_code == 302

    assert not AuditEvent.objects.filter(action__startswith="access.").exists()


# User page: teams, powers, passwords


def test_adding_a_user_to_a_team_on_their_page_tells_each_app_of_the_team(team, staff, users):
    url = reverse("admin:auth_user_change", args=[users["outsider"].pk])

    response = staff.post(url, post_data(staff.get(url), groups=[str(team.pk)]))

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(users["outsider"].groups.values_list("name", flat=True)) == ["ops"]
    assert sorted((e.app, e.detail) for e in events("access.changed")) == [
        ("blog", "Team ops: added outsider (the team holds viewer)."),
        ("shop", "Team ops: added outsider (the team holds deployer)."),
    ]
    assert {(e.actor, e.source) for e in events("access.changed")} == {("staff", "admin")}


def test_removing_a_user_from_a_team_on_their_page_tells_each_app_of_the_team(team, staff, users):
    users["outsider"].groups.add(team)
    url = reverse("admin:auth_user_change", args=[users["outsider"].pk])

    response = staff.post(url, post_data(staff.get(url), groups=[]))

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not users["outsider"].groups.exists()
    assert sorted((e.app, e.detail) for e in events("access.changed")) == [
        ("blog", "Team ops: removed outsider (the team holds viewer)."),
        ("shop", "Team ops: removed outsider (the team holds deployer)."),
    ]


def test_making_a_user_staff_or_deactivating_them_is_one_access_change(app, staff, users):
    url = reverse("admin:auth_user_change", args=[users["viewer"].pk])

    assert staff.post(url, post_data(staff.get(url), is_staff="on")).status_code == 302
    assert staff.post(url, post_data(staff.get(url), is_active=None)).status_code == 302
    assert staff.post(url, post_data(staff.get(url), email="viewer@example.com")).status_code == 302

    assert [(e.app, e.actor, e.source, e.detail) for e in events("access.changed")] == [
        ("", "staff", "admin", "Changed viewer: is_staff: False → True."),
        ("", "staff", "admin", "Changed viewer: is_active: True → False."),
    ]


def test_a_superuser_granting_superuser_powers_is_audited(app, staff, users):
    users["staff"].is_superuser = True
    users["staff"].save(update_fields=["is_superuser"])
    url = reverse("admin:auth_user_change", args=[users["deployer"].pk])

    response = staff.post(url, post_data(staff.get(url), is_superuser="on", is_staff="on"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    [event] = events("access.changed")
    assert event.detail == "Changed deployer: is_staff: False → True; is_superuser: False → True."


def test_an_admin_resetting_someones_password_is_audited_without_the_password(app, staff, users):
    url = reverse("admin:auth_user_password_change", args=[users["viewer"].pk])

    mismatch = {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}
    assert staff.post(url, mismatch).status_code == 200
    assert not events("access.changed")
    answer = staff.post(url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert answer.status_code == 302
    users["viewer"].refresh_from_db()
    assert users["viewer"].check_password(NEW_PASSWORD)
    [event] = events("access.changed")
    assert (event.app, event.actor, event.source) == ("", "staff", "admin")
    assert event.detail == "Password of viewer reset by an admin."
    assert not AuditEvent.objects.filter(detail__contains=NEW_PASSWORD).exists()


def test_an_admin_disabling_someones_password_login_is_audited(app, staff, users):
    url = reverse("admin:auth_user_password_change", args=[users["viewer"].pk])

    answer = staff.post(url, {"usable_password": "false", "unset-password": "1"})

    assert answer.status_code == 302
    users["viewer"].refresh_from_db()
    assert not users["viewer"].has_usable_password()
    [event] = events("access.changed")
    assert event.detail == "Password login of viewer disabled by an admin."


# CI tokens and write-only secrets


def test_revoking_a_ci_token_in_the_admin_names_its_app(app, api, staff):
    answer = api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "github-actions"})
    assert answer.status_code == 201, answer.content
    token = ApiToken.objects.get(name="github-actions")

    response = staff.post(reverse("admin:portal_apitoken_delete", args=[token.pk]), {"post": "yes"})

    assert response.status_code == 302
    [event] = events("token.revoked")
    assert (event.app, event.actor, event.detail) == (
        "shop",
        "staff",
        "Revoked API token 'github-actions' of app_admin.",
    )


def test_deleting_a_user_revokes_their_ci_tokens_under_the_tokens_app(app, api, staff, users):
    assert api("app_admin").post("/api/apps/shop/ci-tokens", {"name": "github-actions"}).status_code == 201

    response = staff.post(reverse("admin:auth_user_delete", args=[users["app_admin"].pk]), {"post": "yes"})

    assert response.status_code == 302
    by_name = {e.detail: e.app for e in events("token.revoked")}
    assert by_name["Revoked API token 'github-actions' of app_admin (user deleted)."] == "shop"
    assert by_name["Revoked API token 'test' of app_admin (user deleted)."] == ""


def test_a_submitted_ssh_key_is_not_shown_again_when_the_form_has_an_error(app, staff):
    url = reverse("admin:projects_app_change", args=[app.pk])

    response = staff.post(url, post_data(staff.get(url), ssh_key=SSH_KEY, name=""))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    page = response.content.decode()
    assert "very-secret" not in page and "BEGIN OPENSSH" not in page
    app.refresh_from_db()
    assert app.ssh_key_encrypted == ""
