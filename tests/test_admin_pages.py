"""The Django admin: staff manage apps, targets, access, teams, users and tokens; history is read-only."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.urls import reverse

from deployments.models import Deployment, LogLine
from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects.models import Access, App, Role, Target
from tests.helpers import Api, post_data

SECRET = "hk-0123456789-very-secret"


def events(action: str):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_every_admin_list_and_form_opens_for_staff(app, staff, users):
    target = app.targets.get()
    deployment = Deployment.objects.create(app=app, target=target, sha="a" * 40, ref="main", requested_by_name="x")
    LogLine.objects.create(deployment=deployment, n=1, text="remote: building <b>")
    team = Group.objects.create(name="ops")
    _, _ = ApiToken.issue(user=users["viewer"], name="laptop")
    pages = [
        reverse("admin:projects_app_changelist") + "?q=shop",
        reverse("admin:projects_app_add"),
        reverse("admin:projects_app_change", args=[app.pk]),
        reverse("admin:projects_target_changelist") + "?protected__exact=0",
        reverse("admin:projects_target_add"),
        reverse("admin:projects_target_change", args=[target.pk]),
        reverse("admin:projects_access_changelist") + "?role__exact=viewer",
        reverse("admin:auth_group_changelist"),
        reverse("admin:auth_group_change", args=[team.pk]),
        reverse("admin:auth_user_changelist") + "?q=view",
        reverse("admin:auth_user_change", args=[users["viewer"].pk]),
        reverse("admin:auth_user_password_change", args=[users["viewer"].pk]),
        reverse("admin:portal_apitoken_changelist") + "?q=laptop",
        reverse("admin:deployments_deployment_changelist") + "?status__exact=queued",
        reverse("admin:deployments_deployment_change", args=[deployment.pk]),
        reverse("admin:audit_auditevent_changelist") + "?q=shop",
        reverse("admin:projects_lock_changelist"),
    ]
    for page in pages:
        assert staff.get(page).status_code == 200, page
    log = staff.get(reverse("admin:deployments_deployment_change", args=[deployment.pk])).content.decode()
    assert "remote: building &lt;b&gt;" in log


def test_people_who_are_not_staff_cannot_open_the_admin(app, browser_client):
    for role in ("outsider", "viewer", "deployer", "app_admin"):
        response = browser_client(role).get(reverse("admin:projects_app_changelist"))
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_a_targets_api_key_is_write_only_and_its_change_is_audited_without_the_value(app, staff):
    target = app.targets.get()
    url = reverse("admin:projects_target_change", args=[target.pk])

    response = staff.post(url, post_data(staff.get(url), api_key=SECRET))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    target.refresh_from_db()
    assert target.api_key == SECRET
    assert SECRET not in target.api_key_encrypted
    page = staff.get(url).content.decode()
    assert SECRET not in page and target.api_key_encrypted not in page
    assert "A value is stored" in page
    [event] = events("target.changed")
    assert (event.actor, event.source, event.app, event.target) == ("staff", "admin", "shop", "staging")
    assert event.detail == "Changed staging: api_key replaced."
    assert not AuditEvent.objects.filter(detail__contains=SECRET).exists()


def test_leaving_the_api_key_empty_keeps_it_and_ticking_clear_removes_it(app, staff):
    target = app.targets.get()
    url = reverse("admin:projects_target_change", args=[target.pk])
    staff.post(url, post_data(staff.get(url), api_key=SECRET))

    staff.post(url, post_data(staff.get(url), name="Staging 2"))
    assert Target.objects.get(pk=target.pk).api_key == SECRET

    staff.post(url, post_data(staff.get(url), clear_api_key="on"))
    assert Target.objects.get(pk=target.pk).api_key == ""
    details = [e.detail for e in events("target.changed")]
    assert details == [
        "Changed staging: api_key replaced.",
        "Changed staging: name: Staging → Staging 2.",
        "Changed staging: api_key cleared.",
    ]


def test_an_apps_repository_token_is_write_only(app, staff):
    url = reverse("admin:projects_app_change", args=[app.pk])

    staff.post(url, post_data(staff.get(url), repo_token=SECRET, name="Shop!"))

    app.refresh_from_db()
    assert app.repo_token == SECRET
    assert app.name == "Shop!"
    assert SECRET not in staff.get(url).content.decode()
    [event] = events("app.changed")
    assert event.detail == "Changed shop: name: Shop → Shop!; repo_token replaced."


def test_granting_changing_and_revoking_access_inline_leaves_one_event_each(app, staff, users):
    url = reverse("admin:projects_app_change", args=[app.pk])
    form = staff.get(url)
    data = post_data(form)
    total = int(data["grants-TOTAL_FORMS"])
    data.update(
        {
            "grants-TOTAL_FORMS": str(total + 1),
            f"grants-{total}-user": str(users["outsider"].pk),
            f"grants-{total}-role": Role.DEPLOYER,
            f"grants-{total}-app": str(app.pk),
        }
    )
    assert staff.post(url, data).status_code == 302
    assert Access.objects.get(app=app, user=users["outsider"]).role == Role.DEPLOYER

    data = post_data(staff.get(url))
    viewer_row = next(
        k[: -len("-user")] for k, v in data.items() if k.endswith("-user") and v == str(users["viewer"].pk)
    )
    data[f"{viewer_row}-role"] = Role.ADMIN
    data[f"{viewer_row}-deploy_protected"] = "on"
    deployer_row = next(
        k[: -len("-user")] for k, v in data.items() if k.endswith("-user") and v == str(users["deployer"].pk)
    )
    data[f"{deployer_row}-DELETE"] = "on"
    assert staff.post(url, data).status_code == 302

    assert [e.detail for e in events("access.granted")] == ["Granted deployer to outsider."]
    assert [e.detail for e in events("access.changed")] == ["Changed viewer from viewer to admin + deploy_protected."]
    assert [e.detail for e in events("access.revoked")] == ["Revoked deployer's access."]
    assert {e.source for e in AuditEvent.objects.filter(action__startswith="access.")} == {"admin"}
    assert not events("app.changed")


def test_adding_and_deleting_an_app_and_a_target_are_audited(app, staff, repo):
    add = reverse("admin:projects_app_add")
    data = post_data(staff.get(add), slug="blog", name="Blog", repo_url=str(repo.path), default_branch="main")
    assert staff.post(add, data).status_code == 302
    blog = App.objects.get(slug="blog")
    add_target = reverse("admin:projects_target_add")
    data = post_data(staff.get(add_target), app=str(blog.pk), slug="prod", name="Prod", heroku_app="blog-prod")
    data["api_key"] = SECRET
    assert staff.post(add_target, data).status_code == 302

    prod = Target.objects.get(app=blog, slug="prod")
    assert staff.post(reverse("admin:projects_target_delete", args=[prod.pk]), {"post": "yes"}).status_code == 302
    assert staff.post(reverse("admin:projects_app_delete", args=[blog.pk]), {"post": "yes"}).status_code == 302

    assert [e.detail for e in events("app.created")] == [f"Created app blog from {repo.path}."]
    [created] = events("target.created")
    assert created.detail.startswith("Added target prod pushing to ") and created.detail.endswith("with an API key.")
    assert [e.detail for e in events("target.deleted")] == ["Deleted target prod; its 0 deployments went with it."]
    [deleted] = events("app.deleted")
    assert (deleted.app, deleted.actor) == ("blog", "staff")
    assert not App.objects.filter(slug="blog").exists()
    assert not AuditEvent.objects.filter(detail__contains=SECRET).exists()


def test_team_members_are_managed_on_the_team_and_each_app_of_the_team_hears_of_it(app, staff, users):
    team = Group.objects.create(name="ops")
    Access.objects.create(app=app, team=team, role=Role.DEPLOYER)
    url = reverse("admin:auth_group_change", args=[team.pk])

    data = post_data(staff.get(url), members=[str(users["outsider"].pk), str(users["viewer"].pk)])
    assert staff.post(url, data).status_code == 302

    assert set(team.user_set.values_list("username", flat=True)) == {"outsider", "viewer"}
    [event] = events("access.changed")
    assert event.app == "shop"
    assert event.detail == "Team ops: added outsider, viewer (the team holds deployer)."


def test_staff_revoke_any_token_in_the_admin_and_it_is_audited(app, staff, users, api):
    token, raw = ApiToken.issue(user=users["deployer"], name="ci")
    changelist = reverse("admin:portal_apitoken_changelist")

    response = staff.post(changelist, {"action": "revoke", "_selected_action": [str(token.pk)]})

    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    [event] = events("token.revoked")
    assert (event.actor, event.source, event.detail) == ("staff", "admin", "Revoked API token 'ci' of deployer.")
    assert Api(raw).get("/api/apps").status_code == 401


def test_the_audit_log_cannot_be_added_changed_or_deleted_in_the_admin(app, staff, users):
    staff_user = users["staff"]
    staff_user.is_superuser = True
    staff_user.save(update_fields=["is_superuser"])
    event = AuditEvent.objects.create(actor="viewer", action="denied", source="web", detail="Refused.")
    change = reverse("admin:audit_auditevent_change", args=[event.pk])

    page = staff.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert staff.post(change, {"actor": "someone-else", "detail": "Edited."}).status_code == 403
    assert (
        staff.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    assert staff.get(reverse("admin:audit_auditevent_add")).status_code == 403
    changelist = reverse("admin:audit_auditevent_changelist")
    staff.post(changelist, {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk, actor="viewer", detail="Refused.").exists()


def test_deployments_are_read_only_in_the_admin(app, staff):
    target = app.targets.get()
    deployment = Deployment.objects.create(app=app, target=target, sha="a" * 40, ref="main", requested_by_name="x")
    change = reverse("admin:deployments_deployment_change", args=[deployment.pk])

    assert staff.post(change, {"status": "succeeded"}).status_code == 403
    assert (
        staff.post(reverse("admin:deployments_deployment_delete", args=[deployment.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Deployment.objects.get(pk=deployment.pk).status == "queued"


def test_staff_who_are_not_superusers_cannot_grant_superuser_powers(app, staff, users):
    url = reverse("admin:auth_user_change", args=[users["viewer"].pk])

    response = staff.post(url, post_data(staff.get(url), is_superuser="on", is_staff="on"))

    assert response.status_code == 302, response.context["adminform"].form.errors

    viewer = type(users["viewer"]).objects.get(pk=users["viewer"].pk)
    assert viewer.is_staff and not viewer.is_superuser


def test_a_user_added_in_the_admin_is_audited(db, staff):
    add = reverse("admin:auth_user_add")
    data = post_data(staff.get(add), username="newbie", password1="a-Long-pass-123", password2="a-Long-pass-123")
    data["usable_password"] = "true"

    assert staff.post(add, data).status_code == 302

    [event] = events("user.created")
    assert (event.actor, event.source, event.detail) == ("staff", "admin", "Created user newbie.")
