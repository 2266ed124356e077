"""API endpoints for CI: statuses (also in GitHub's shape), CI tokens, GitHub secrets and tokens."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from portal.apiauth import SessionAuth, TokenAuth, actor
from projects import access, ci, services
from projects.models import App

router = Router(tags=["ci"])


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
