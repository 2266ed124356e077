"""Roles per app from user and team grants, the highest winning, and protected targets."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from portal.actor import Actor
from portal.audit.models import AuditEvent
from projects import access
from projects.models import Access, Role, Target


@pytest.fixture
def team(app, users) -> Group:
    ops = Group.objects.create(name="ops")
    users["outsider"].groups.add(ops)
    return ops


def test_a_team_grant_gives_its_members_the_role(app, users, team, api):
    Access.objects.create(app=app, team=team, role=Role.DEPLOYER)

    assert access.grant_for(users["outsider"], app).role == Role.DEPLOYER
    assert [a["slug"] for a in api("outsider").get("/api/apps").json()] == ["shop"]


def test_the_highest_of_own_and_team_grants_wins_either_way(app, users, team):
    viewer = users["viewer"]
    viewer.groups.add(team)
    Access.objects.create(app=app, team=team, role=Role.ADMIN)
    assert access.grant_for(viewer, app).role == Role.ADMIN  # team above own

    Access.objects.filter(team=team).update(role=Role.VIEWER)
    Access.objects.filter(user=users["app_admin"]).update(role=Role.ADMIN)
    users["app_admin"].groups.add(team)
    assert access.grant_for(users["app_admin"], app).role == Role.ADMIN  # own above team


def test_deploy_protected_from_a_team_adds_to_an_own_deployer_grant(app, users, team):
    users["deployer"].groups.add(team)
    Access.objects.create(app=app, team=team, role=Role.VIEWER, deploy_protected=True)
    production = Target.objects.create(app=app, slug="production", name="Production", remote_url="/x", protected=True)

    assert access.grant_for(users["deployer"], app).may_deploy(production)


def test_leaving_the_team_takes_its_role_away(app, users, team, api):
    Access.objects.create(app=app, team=team, role=Role.DEPLOYER)
    users["outsider"].groups.remove(team)

    assert access.grant_for(users["outsider"], app).role is None
    assert api("outsider").get("/api/apps/shop/commits").status_code == 404


def test_an_inactive_user_has_no_role(app, users):
    users["app_admin"].is_active = False
    users["app_admin"].save(update_fields=["is_active"])

    assert access.grant_for(users["app_admin"], app).role is None


@pytest.fixture
def production(app) -> Target:
    return Target.objects.create(
        app=app, slug="production", name="Production", remote_url=str(app.targets.get().remote_url), protected=True
    )


def test_a_plain_deployer_is_refused_on_a_protected_target_and_it_is_audited(app, production, api):
    response = api("deployer").post("/api/apps/shop/targets/production/deployments", {"ref": "main"})

    assert response.status_code == 403
    assert "protected" in response.json()["detail"]
    [event] = AuditEvent.objects.filter(action="denied")
    assert (event.actor, event.app, event.target, event.source) == ("deployer", "shop", "production", "api")


def test_locking_a_protected_target_needs_admin_or_deploy_protected(app, production, api, users):
    path = "/api/apps/shop/targets/production/lock"
    assert api("deployer").post(path, {"reason": "freeze"}).status_code == 403

    Access.objects.filter(user=users["deployer"]).update(deploy_protected=True)
    assert api("deployer").post(path, {"reason": "freeze"}).status_code == 201
    assert api("app_admin").delete(path).status_code == 204


def test_access_checks_use_the_actor_not_a_stale_grant(app, users):
    actor = Actor(user=users["viewer"], source="web")
    Access.objects.filter(user=users["viewer"]).update(role=Role.ADMIN)

    assert access.require(actor, app, Role.ADMIN).role == Role.ADMIN
