"""API endpoints for users, apps, targets, access, CI statuses and the audit: parse, check, one service."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from portal.apiauth import SessionAuth, TokenAuth, actor
from portal.audit import queries as audit_log
from portal.paging import MAX_PAGE
from projects import access, ci, services
from projects.locks import active_lock
from projects.models import App, Role, Target

router = Router(tags=["apps"])

PAGE_SIZE = 50


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
    auto_deploy_branch: str | None = None
    timeout_seconds: int | None = Field(None, ge=1)


class TargetPatch(Schema):
    name: str | None = None
    remote_url: str | None = None
    heroku_app: str | None = None
    api_key: str | None = None
    push_ref: str | None = None
    protected: bool | None = None
    require_ci: bool | None = None
    required_contexts: list[str] | None = None
    auto_deploy_branch: str | None = None
    timeout_seconds: int | None = Field(None, ge=1)


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


class StatusIn(Schema):
    state: str
    context: str = Field(..., max_length=255)
    target_url: str = Field("", max_length=1000)
    description: str = Field("", max_length=500)


class StatusOut(Schema):
    sha: str
    context: str
    state: str
    target_url: str
    description: str


class GitHubStatusIn(Schema):
    """GitHub's body for creating a commit status, with GitHub's defaults and limits."""

    state: str
    target_url: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=140)
    context: str | None = Field("default", max_length=255)


class GitHubStatusOut(Schema):
    id: int
    url: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    created_at: datetime
    updated_at: datetime


class CiTokenIn(Schema):
    name: str = Field(..., max_length=100)


class CiTokenOut(Schema):
    token: str


class CiTokenInfo(Schema):
    id: int
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None


class SecretIn(Schema):
    secret: str = Field(..., max_length=200)


class GitHubTokenIn(Schema):
    token: str = Field(..., max_length=255)


class AuditOut(Schema):
    at: datetime
    actor: str
    action: str
    app: str
    target: str
    deployment: int | None
    detail: str


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


@router.patch("/apps/{app}", response=AppDetailOut)
def change_app(request: HttpRequest, app: str, body: AppPatch):
    found = access.app_for(actor(request), app)
    changed = services.app_update(actor=actor(request), app=found, **body.dict())
    return {**app_out(changed), "allowed_remotes": changed.allowed_remotes}


@router.patch("/apps/{app}/targets/{target}", response=TargetOut)
def change_target(request: HttpRequest, app: str, target: str, body: TargetPatch):
    found = access.target_for(actor(request), app, target)
    return target_out(services.target_update(actor=actor(request), target=found, **body.dict()))


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


@router.post(
    "/apps/{app}/commits/{sha}/statuses",
    response={201: StatusOut},
    auth=[TokenAuth(allow_ci=True), SessionAuth()],
)
def post_status(request: HttpRequest, app: str, sha: str, body: StatusIn):
    token = getattr(request, "api_token", None)
    if token is not None and token.ci_app_id:
        # A CI token sees one app only; to it every other app does not exist.
        found = App.objects.filter(slug=app, pk=token.ci_app_id).first()
        if found is None:
            from django.http import Http404

            raise Http404("No such app.")
    else:
        found = access.app_for(actor(request), app)
    status = ci.status_post(actor=actor(request), app=found, token=token, sha=sha, **body.dict())
    return Status(201, status)


@router.post(
    "/repos/{owner}/{repo}/statuses/{sha}",
    response={201: GitHubStatusOut},
    auth=[TokenAuth(allow_ci=True), SessionAuth()],
    tags=["github"],
)
def post_github_status(request: HttpRequest, owner: str, repo: str, sha: str, body: GitHubStatusIn):
    """GitHub's create-a-commit-status call for the app whose repo_url is github.com/{owner}/{repo}:
    a CI step written for GitHub works by changing its base URL to /api and its token."""
    status = ci.github_status_post(
        actor=actor(request),
        token=getattr(request, "api_token", None),
        owner=owner,
        repo=repo,
        sha=sha,
        state=body.state,
        context="default" if body.context is None else body.context,
        target_url=body.target_url or "",
        description=body.description or "",
    )
    return Status(
        201,
        {
            "id": status.pk,
            "url": request.build_absolute_uri(request.path),
            "state": status.state,
            "context": status.context,
            "description": status.description or None,
            "target_url": status.target_url or None,
            "created_at": status.reported_at,
            "updated_at": status.updated_at,
        },
    )


@router.post("/apps/{app}/ci-tokens", response={201: CiTokenOut})
def create_ci_token(request: HttpRequest, app: str, body: CiTokenIn):
    found = access.app_for(actor(request), app)
    return Status(201, {"token": ci.ci_token_create(actor=actor(request), app=found, name=body.name)})


@router.get("/apps/{app}/ci-tokens", response=list[CiTokenInfo])
def list_ci_tokens(request: HttpRequest, app: str):
    found = access.app_for(actor(request), app)
    return [
        {"id": t.pk, "name": t.name, "created_by": t.user.username, "created_at": t.created_at,
         "last_used_at": t.last_used_at}
        for t in ci.ci_tokens(actor=actor(request), app=found)
    ]  # fmt: skip


@router.delete("/apps/{app}/ci-tokens/{token_id}", response={204: None})
def revoke_ci_token(request: HttpRequest, app: str, token_id: int):
    found = access.app_for(actor(request), app)
    ci.ci_token_revoke(actor=actor(request), app=found, token_id=token_id)
    return Status(204, None)


@router.put("/apps/{app}/github-webhook", response={204: None})
def set_github_secret(request: HttpRequest, app: str, body: SecretIn):
    """Set the secret GitHub signs this app's webhooks with (POST /hooks/github/{app}); write-only."""
    found = access.app_for(actor(request), app)
    ci.github_secret_set(actor=actor(request), app=found, secret=body.secret)
    return Status(204, None)


@router.put("/apps/{app}/github-token", response={204: None})
def set_github_token(request: HttpRequest, app: str, body: GitHubTokenIn):
    """Set the token deployments are reported to GitHub with ('' clears it); write-only."""
    found = access.app_for(actor(request), app)
    services.app_set_github_token(actor=actor(request), app=found, token=body.token)
    return Status(204, None)


@router.get("/audit", response=list[AuditOut])
def list_audit(
    request: HttpRequest,
    app: str = "",
    user: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    page: int = Query(1, ge=1, le=MAX_PAGE),
):
    """Newest first. `since` and `until` are dates (YYYY-MM-DD, until inclusive) or ISO 8601 times."""
    scope = access.audit_scope(actor(request), app.strip())
    filters = audit_log.Filters.parse(
        {"app": app, "user": user, "action": action, "target": target, "since": since, "until": until}
    )
    events = audit_log.events(apps=scope, filters=filters)
    start = (page - 1) * PAGE_SIZE
    return list(events[start : start + PAGE_SIZE].values(*AuditOut.model_fields))


__all__ = ["Role", "router"]
