"""API endpoints for who may do what on an app: users' and teams' grants, and teams."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from portal.apiauth import actor
from projects import access, services

router = Router(tags=["access"])


class AccessIn(Schema):
    role: str
    deploy_protected: bool = False


class AccessOut(Schema):
    username: str
    role: str
    deploy_protected: bool


class TeamIn(Schema):
    name: str = Field(..., max_length=150)


class TeamOut(Schema):
    name: str
    members: list[str]


class TeamAccessOut(Schema):
    team: str
    role: str
    deploy_protected: bool


@router.put("/apps/{app}/access/{username}", response=AccessOut)
def set_access(request: HttpRequest, app: str, username: str, body: AccessIn):
    found = access.app_for(actor(request), app)
    grant = services.access_set(
        actor=actor(request), app=found, username=username, role=body.role, deploy_protected=body.deploy_protected
    )
    return {"username": username, "role": grant.role, "deploy_protected": grant.deploy_protected}


@router.delete("/apps/{app}/access/{username}", response={204: None})
def revoke_access(request: HttpRequest, app: str, username: str):
    found = access.app_for(actor(request), app)
    services.access_revoke(actor=actor(request), app=found, username=username)
    return Status(204, None)


@router.post("/teams", response={201: TeamOut})
def create_team(request: HttpRequest, body: TeamIn):
    team = services.team_create(actor=actor(request), name=body.name)
    return Status(201, {"name": team.name, "members": []})


@router.get("/teams", response=list[TeamOut])
def list_teams(request: HttpRequest):
    return [
        {"name": team.name, "members": sorted(user.username for user in team.user_set.all())}
        for team in services.team_list(actor=actor(request))
    ]


@router.put("/apps/{app}/teams/{team}", response=TeamAccessOut)
def set_team_access(request: HttpRequest, app: str, team: str, body: AccessIn):
    found = access.app_for(actor(request), app)
    grant = services.team_grant_set(
        actor=actor(request), app=found, team_name=team, role=body.role, deploy_protected=body.deploy_protected
    )
    return {"team": team, "role": grant.role, "deploy_protected": grant.deploy_protected}


@router.delete("/apps/{app}/teams/{team}", response={204: None})
def revoke_team_access(request: HttpRequest, app: str, team: str):
    found = access.app_for(actor(request), app)
    services.team_grant_revoke(actor=actor(request), app=found, team_name=team)
    return Status(204, None)
