"""Teams through the JSON API: staff make and list them, app admins grant them roles on an app."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from deployments.models import Status
from portal.audit.models import AuditEvent
from projects.models import Access, Target

TEAM_GRANT = "/api/apps/shop/teams/ops"
DEPLOYS = "/api/apps/shop/targets/staging/deployments"


@pytest.fixture
def ops(users) -> Group:
    """A team whose one member, the outsider, holds no grant of their own."""
    team = Group.objects.create(name="ops")
    users["outsider"].groups.add(team)
    return team


def events(action: str) -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.filter(action=action).order_by("id").values_list("actor", "app", "detail"))


def test_staff_create_a_team_with_no_members_and_it_is_audited(api):
    response = api("staff").post("/api/teams", {"name": "ops"})

    assert response.status_code == 201
    assert response.json() == {"name": "ops", "members": []}
    assert Group.objects.filter(name="ops").exists()
    assert events("access.changed") == [("staff", "", "Created team ops.")]


def test_a_team_that_already_exists_is_a_conflict(api, ops):
    response = api("staff").post("/api/teams", {"name": "ops"})

    assert response.status_code == 409
    assert "ops" in response.json()["detail"]
    assert Group.objects.filter(name="ops").count() == 1


def test_a_blank_team_name_is_refused_naming_the_field(api):
    response = api("staff").post("/api/teams", {"name": "  "})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("name:")
    assert not Group.objects.exists()


def test_staff_list_teams_with_their_members_sorted(api, users, ops):
    users["viewer"].groups.add(ops)
    Group.objects.create(name="empty")

    response = api("staff").get("/api/teams")

    assert response.status_code == 200
    assert response.json() == [{"name": "empty", "members": []}, {"name": "ops", "members": ["outsider", "viewer"]}]


@pytest.mark.parametrize("role", ["outsider", "viewer", "deployer", "app_admin"])
def test_only_staff_create_or_list_teams_and_refusals_are_audited(api, app, role):
    created = api(role).post("/api/teams", {"name": "ops"})
    listed = api(role).get("/api/teams")

    assert (created.status_code, listed.status_code) == (403, 403)
    assert "staff" in created.json()["detail"]
    assert not Group.objects.exists()
    assert [detail for _, _, detail in events("denied")] == [
        "Refused to create teams: staff only.",
        "Refused to list teams: staff only.",
    ]


def test_a_team_granted_viewer_lets_its_members_see_the_app_but_not_deploy(app, api, ops):
    member = api("outsider")
    assert member.get("/api/apps/shop/commits").status_code == 404

    granted = api("app_admin").put(TEAM_GRANT, {"role": "viewer"})

    assert granted.status_code == 200
    assert granted.json() == {"team": "ops", "role": "viewer", "deploy_protected": False}
    assert member.get("/api/apps/shop/commits").status_code == 200
    assert member.post(DEPLOYS, {"ref": "main"}).status_code == 403
    assert events("access.granted") == [("app_admin", "shop", "Granted viewer to team ops.")]


def test_changing_a_team_to_deployer_lets_its_members_deploy(app, api, ops, deploy):
    admin = api("app_admin")
    admin.put(TEAM_GRANT, {"role": "viewer"})

    changed = admin.put(TEAM_GRANT, {"role": "deployer"})

    assert changed.status_code == 200
    assert changed.json() == {"team": "ops", "role": "deployer", "deploy_protected": False}
    assert Access.objects.get(app=app, team=ops).role == "deployer"
    deployment = deploy("main", role="outsider")
    assert (deployment.status, deployment.requested_by_name) == (Status.SUCCEEDED, "outsider")
    assert events("access.changed") == [("app_admin", "shop", "Changed team ops from viewer to deployer.")]


def test_deploy_protected_on_a_team_grant_opens_protected_targets_to_its_members(app, api, ops):
    Target.objects.create(app=app, slug="production", name="Production", remote_url="/srv/prod", protected=True)
    admin, member = api("app_admin"), api("outsider")
    production = "/api/apps/shop/targets/production/deployments"
    admin.put(TEAM_GRANT, {"role": "deployer"})
    assert member.post(production, {"ref": "main"}).status_code == 403

    changed = admin.put(TEAM_GRANT, {"role": "deployer", "deploy_protected": True})

    assert changed.json() == {"team": "ops", "role": "deployer", "deploy_protected": True}
    assert member.post(production, {"ref": "main"}).status_code == 202
    assert events("access.changed")[-1] == (
        "app_admin",
        "shop",
        "Changed team ops from deployer to deployer + deploy_protected.",
    )


def test_setting_the_same_grant_again_records_nothing_new(app, api, ops):
    admin = api("app_admin")
    admin.put(TEAM_GRANT, {"role": "viewer"})

    again = admin.put(TEAM_GRANT, {"role": "viewer"})

    assert again.status_code == 200
    assert len(events("access.granted")) == 1
    assert events("access.changed") == []


def test_revoking_a_team_takes_its_members_access_away(app, api, ops):
    admin, member = api("app_admin"), api("outsider")
    admin.put(TEAM_GRANT, {"role": "deployer"})
    assert member.get("/api/apps/shop/commits").status_code == 200

    revoked = admin.delete(TEAM_GRANT)

    assert revoked.status_code == 204
    assert not Access.objects.filter(team=ops).exists()
    assert member.get("/api/apps/shop/commits").status_code == 404
    assert member.post(DEPLOYS, {"ref": "main"}).status_code == 404
    assert events("access.revoked") == [("app_admin", "shop", "Revoked team ops's access.")]


def test_revoking_a_team_without_a_grant_is_404(app, api, ops):
    response = api("app_admin").delete(TEAM_GRANT)

    assert response.status_code == 404
    assert response.json()["detail"] == "The team 'ops' has no grant on this app."


def test_an_unknown_team_is_404_with_a_sentence(app, api):
    for response in (
        api("app_admin").put("/api/apps/shop/teams/ghosts", {"role": "viewer"}),
        api("app_admin").delete("/api/apps/shop/teams/ghosts"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "No team named 'ghosts'."}
    assert not Access.objects.filter(team__isnull=False).exists()


def test_an_invalid_role_is_400_naming_role(app, api, ops):
    response = api("app_admin").put(TEAM_GRANT, {"role": "owner"})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("role:")
    assert not Access.objects.filter(team=ops).exists()


def test_a_team_name_with_a_space_works_in_the_path(app, api, users):
    Group.objects.create(name="Night shift").user_set.add(users["outsider"])

    granted = api("app_admin").put("/api/apps/shop/teams/Night%20shift", {"role": "viewer"})

    assert granted.json() == {"team": "Night shift", "role": "viewer", "deploy_protected": False}
    assert api("outsider").get("/api/apps/shop/commits").status_code == 200


@pytest.mark.parametrize("role", ["viewer", "deployer"])
def test_viewers_and_deployers_may_not_grant_teams_and_it_is_audited(app, api, ops, role):
    put = api(role).put(TEAM_GRANT, {"role": "admin"})
    delete = api(role).delete(TEAM_GRANT)

    assert (put.status_code, delete.status_code) == (403, 403)
    assert "admin" in put.json()["detail"]
    assert not Access.objects.filter(team=ops).exists()
    assert [(actor, app_slug) for actor, app_slug, _ in events("denied")] == [(role, "shop"), (role, "shop")]


def test_an_app_the_caller_cannot_see_is_404_not_403(app, api, ops):
    response = api("outsider").put(TEAM_GRANT, {"role": "admin"})

    assert response.status_code == 404
    assert not Access.objects.filter(team=ops).exists()
    assert events("denied") == []
