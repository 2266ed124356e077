"""API endpoints for users, apps and targets: parse, check, one service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import StrictInt

from portal.apiauth import actor
from portal.paging import page_number
from projects import access, services
from projects.locks import active_lock
from projects.models import App, Target

router = Router(tags=["apps"])

APPS_PAGE_SIZE = 100


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
    require_approval: bool
    approval_minutes: int
    windows: list[dict]
    rollbacks_during_freeze: bool
    health_url: str
    health_timeout: int
    auto_rollback: bool


class AppOut(Schema):
    slug: str
    name: str
    repo_url: str
    default_branch: str
    targets: list[TargetOut]


class AppDetailOut(AppOut):
    allowed_remotes: list[str]


class AppPatch(Schema):
    name: str | None = None
    default_branch: str | None = None
    allowed_remotes: list[str] | None = None


class AppIn(Schema):
    slug: str
    name: str
    repo_url: str
    default_branch: str = ""  # empty: the repository's own default branch


class TargetSettings(Schema):
    """The settings a target is created with and changed by (every one optional)."""

    remote_url: str | None = None
    heroku_app: str | None = None
    push_ref: str | None = None
    protected: bool | None = None
    require_ci: bool | None = None
    required_contexts: list[str] | None = None
    auto_deploy_branch: str | None = None
    timeout_seconds: int | None = Field(None, ge=1)
    require_approval: bool | None = None
    approval_minutes: StrictInt | None = None  # a positive whole number (the service checks the range)
    windows: list[Any] | None = None
    rollbacks_during_freeze: bool | None = None
    health_url: str | None = Field(None, max_length=1000)
    health_timeout: int | None = Field(None, ge=5, le=3600)
    auto_rollback: bool | None = None


class TargetIn(TargetSettings):
    slug: str
    name: str
    api_key: str = ""


class TargetPatch(TargetSettings):
    name: str | None = None
    api_key: str | None = None


def target_out(target: Target) -> dict:
    lock = active_lock(target)
    return {
        "slug": target.slug,
        "name": target.name,
        "protected": target.protected,
        "live_sha": target.live_sha,
        "locked": lock is not None,
        "lock": {"reason": lock.reason, "by": lock.by, "until": lock.until} if lock else None,
        "require_approval": target.require_approval,
        "approval_minutes": target.approval_minutes,
        "windows": target.windows,
        "rollbacks_during_freeze": target.rollbacks_during_freeze,
        "health_url": target.health_url,
        "health_timeout": target.health_timeout,
        "auto_rollback": target.auto_rollback,
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
def list_apps(request: HttpRequest, page: str | None = None):
    """The apps the caller may see, by name, a hundred a page (`?page=2` for the next)."""
    start = (page_number(page) - 1) * APPS_PAGE_SIZE
    apps = access.visible_apps(request.user).order_by("name", "id").prefetch_related("targets__lock")
    return [app_out(app) for app in apps[start : start + APPS_PAGE_SIZE]]


@router.post("/apps", response={201: AppOut})
def create_app(request: HttpRequest, body: AppIn):
    app = services.app_create(actor=actor(request), **body.dict())
    return Status(201, app_out(app))


@router.post("/apps/{app}/targets", response={201: TargetOut})
def create_target(request: HttpRequest, app: str, body: TargetIn):
    found = access.app_for(actor(request), app)
    target = services.target_create(actor=actor(request), app=found, **body.dict())
    return Status(201, target_out(target))


@router.patch("/apps/{app}", response=AppDetailOut)
def change_app(request: HttpRequest, app: str, body: AppPatch):
    found = access.app_for(actor(request), app)
    changed = services.app_update(actor=actor(request), app=found, **body.dict())
    return {**app_out(changed), "allowed_remotes": changed.allowed_remotes}


@router.patch("/apps/{app}/targets/{target}", response=TargetOut)
def change_target(request: HttpRequest, app: str, target: str, body: TargetPatch):
    found = access.target_for(actor(request), app, target)
    return target_out(services.target_update(actor=actor(request), target=found, **body.dict()))
