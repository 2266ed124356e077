"""API endpoints for users, apps, targets, access and commits: parse, check, one service."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from deployments.services import active_lock
from portal.api import actor
from portal.errors import BadRequest
from projects import access, selectors, services
from projects.git import GitError
from projects.mirror import RefError
from projects.models import App, Role, Target

router = Router(tags=["apps"])


class UserIn(Schema):
    username: str
    password: str
    email: str = ""


class UserOut(Schema):
    username: str


class LockOut(Schema):
    reason: str
    by: str
    until: datetime | None


class TargetOut(Schema):
    slug: str
    name: str
    protected: bool
    live_sha: str
    locked: bool
    lock: LockOut | None


class AppOut(Schema):
    slug: str
    name: str
    repo_url: str
    default_branch: str
    targets: list[TargetOut]


class AppIn(Schema):
    slug: str
    name: str
    repo_url: str
    default_branch: str = "main"


class TargetIn(Schema):
    slug: str
    name: str
    remote_url: str | None = None
    heroku_app: str | None = None
    api_key: str = ""
    push_ref: str | None = None
    protected: bool | None = None
    require_ci: bool | None = None
    required_contexts: list[str] | None = None
    timeout_seconds: int | None = Field(None, ge=1)


class AccessIn(Schema):
    role: str
    deploy_protected: bool = False


class AccessOut(Schema):
    username: str
    role: str
    deploy_protected: bool


class CiContext(Schema):
    context: str
    state: str
    target_url: str


class CiOut(Schema):
    state: str
    contexts: list[CiContext]


class CommitOut(Schema):
    sha: str
    message: str
    author: str
    date: datetime
    deployed_to: list[str]
    live_on: list[str]
    ci: CiOut | None


def target_out(target: Target) -> dict:
    lock = active_lock(target)
    return {
        "slug": target.slug,
        "name": target.name,
        "protected": target.protected,
        "live_sha": target.live_sha,
        "locked": lock is not None,
        "lock": {"reason": lock.reason, "by": lock.by, "until": lock.until} if lock else None,
    }


def app_out(app: App) -> dict:
    return {
        "slug": app.slug,
        "name": app.name,
        "repo_url": app.repo_url,
        "default_branch": app.default_branch,
        "targets": [target_out(t) for t in app.targets.all()],
    }


@router.post("/users", response={201: UserOut})
def create_user(request: HttpRequest, body: UserIn):
    user = services.user_create(actor=actor(request), username=body.username, password=body.password, email=body.email)
    return Status(201, {"username": user.username})


@router.get("/apps", response=list[AppOut])
def list_apps(request: HttpRequest):
    apps = access.visible_apps(request.user).prefetch_related("targets__lock")
    return [app_out(app) for app in apps]


@router.post("/apps", response={201: AppOut})
def create_app(request: HttpRequest, body: AppIn):
    app = services.app_create(actor=actor(request), **body.dict())
    return Status(201, app_out(app))


@router.post("/apps/{app}/targets", response={201: TargetOut})
def create_target(request: HttpRequest, app: str, body: TargetIn):
    found = access.app_for(actor(request), app)
    target = services.target_create(actor=actor(request), app=found, **body.dict())
    return Status(201, target_out(target))


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


@router.get("/apps/{app}/commits", response=list[CommitOut])
def list_commits(
    request: HttpRequest, app: str, branch: str = "", limit: int = Query(50, ge=1, le=100), page: int = Query(1, ge=1)
):
    found = access.app_for(actor(request), app)
    try:
        from projects import mirror

        if not mirror.exists(found):
            mirror.sync(found)
        rows, _ = selectors.commit_rows(found, branch or found.default_branch, page=page, per_page=limit)
    except RefError as error:
        raise BadRequest(f"branch: {error}") from None
    except GitError as error:
        from portal.errors import Unavailable

        raise Unavailable(f"The repository could not be read: {error}") from None
    return [
        {
            "sha": row.commit.sha,
            "message": row.commit.message,
            "author": row.commit.author,
            "date": row.commit.date,
            "deployed_to": row.deployed_to,
            "live_on": [t.slug for t in row.live_on],
            "ci": None,
        }
        for row in rows
    ]


__all__ = ["Role", "router"]
