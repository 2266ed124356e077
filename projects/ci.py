"""CI statuses of commits: recording them (API, CI tokens, GitHub webhooks), combining them, the gate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from portal.accounts import services as accounts
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest, Unauthorized
from portal.models import ApiToken
from projects import access
from projects.models import App, CiState, CommitStatus, Role, Target
from projects.validators import FULL_SHA

# GitHub check runs: conclusion (when completed) to a commit status state.
CHECK_CONCLUSIONS = {
    "success": CiState.SUCCESS,
    "neutral": CiState.SUCCESS,
    "skipped": CiState.SUCCESS,
    "failure": CiState.FAILURE,
    "timed_out": CiState.FAILURE,
    "action_required": CiState.FAILURE,
    "cancelled": CiState.ERROR,
    "stale": CiState.ERROR,
}

# The forms of a GitHub repository URL an app's repo_url may take; GitHub ignores case in names.
GITHUB_REPOSITORY = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([^/]+)/([^/]+?)(?:\.git)?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Combined:
    """GitHub's combined status: failure if any context failed, pending if any is pending."""

    state: str
    contexts: list[CommitStatus] = field(default_factory=list)

    @property
    def by_context(self) -> dict[str, CommitStatus]:
        return {status.context: status for status in self.contexts}


def check_run_state(status: str, conclusion: str | None) -> str:
    if status != "completed":
        return CiState.PENDING
    return CHECK_CONCLUSIONS.get(conclusion or "", CiState.ERROR)


def status_record(
    *,
    app: App,
    sha: str,
    state: str,
    context: str,
    target_url: str = "",
    description: str = "",
    reported_at: datetime | None = None,
) -> CommitStatus:
    """Store the state of one context; a report older than the stored one changes nothing."""
    sha = sha.lower()
    if not FULL_SHA.match(sha):
        raise BadRequest("sha: must be a full 40-character hex commit sha.")
    if state not in CiState.values:
        raise BadRequest(f"state: must be one of {', '.join(CiState.values)}.")
    context = context.strip()
    if not context or len(context) > 255:
        raise BadRequest("context: give a name of 1 to 255 characters, such as ci/tests.")
    if target_url and not target_url.startswith(("https://", "http://")):
        raise BadRequest("target_url: must be an http(s) URL.")
    values = {
        "state": state,
        "target_url": target_url[:1000],
        "description": description[:500],
        "reported_at": reported_at or timezone.now(),
    }
    try:
        with transaction.atomic():
            status, created = CommitStatus.objects.get_or_create(app=app, sha=sha, context=context, defaults=values)
    except IntegrityError:  # a concurrent first report of this context won; update it below
        status, created = CommitStatus.objects.get(app=app, sha=sha, context=context), False
    if not created:
        CommitStatus.objects.filter(pk=status.pk, reported_at__lte=values["reported_at"]).update(
            **values, updated_at=timezone.now()
        )
        status.refresh_from_db()
    return status


def status_post(
    *,
    actor: Actor,
    app: App,
    token: ApiToken | None,
    sha: str,
    state: str,
    context: str,
    target_url: str = "",
    description: str = "",
) -> CommitStatus:
    """A status posted through the API: with a CI token of this app, or by an app admin (audited).

    Whoever vouches for the gate must not be whoever it gates: a deployer may not turn a red
    gate green. A CI token counts only while the person who made it is still an app admin.
    """
    if token is not None and token.ci_app_id == app.pk:
        if not access.grant_for(token.user, app).at_least(Role.ADMIN):
            _revoke(Actor.system(), token, why=f"{token.user.username} no longer administers {app.slug}")
            raise Unauthorized("This CI token was revoked: the person who made it no longer administers the app.")
        return status_record(
            app=app, sha=sha, state=state, context=context, target_url=target_url, description=description
        )
    access.require(actor, app, Role.ADMIN, action="post CI statuses")
    with transaction.atomic():
        status = status_record(
            app=app, sha=sha, state=state, context=context, target_url=target_url, description=description
        )
        audit.record(
            actor=actor,
            action="ci.status_posted",
            app=app,
            detail=f"Posted CI status {status.state} for {context.strip()[:100]} on {sha.lower()[:7]} by hand.",
        )
    return status


def github_repository(url: str) -> str | None:
    """`owner/repo` in lower case when `url` is a repository on github.com, else None."""
    found = GITHUB_REPOSITORY.match(url.strip())
    return f"{found[1]}/{found[2]}".lower() if found else None


def github_status_post(
    *,
    actor: Actor,
    token: ApiToken | None,
    owner: str,
    repo: str,
    sha: str,
    state: str,
    context: str,
    target_url: str = "",
    description: str = "",
) -> CommitStatus:
    """GitHub's commit-status call, for the apps built from github.com/{owner}/{repo}.

    Only apps the caller can see are looked at (a CI token sees its own app only), so a
    repository of no visible app is a 404 that reveals nothing. A status belongs to a commit of
    the repository, as on GitHub: every matching app the caller may post to gets it; when the
    caller may post to none, `status_post` refuses (and audits) as for the app-scoped call.
    """
    ci_app = token.ci_app_id if token is not None else None
    scope = App.objects.filter(pk=ci_app) if ci_app else access.visible_apps(actor.user)
    apps = github_apps(scope, owner=owner, repo=repo)
    if not apps:
        raise Http404("No app you can see is built from that GitHub repository.")
    allowed = [app for app in apps if ci_app or access.grant_for(actor.user, app).at_least(Role.ADMIN)]
    fields = {"sha": sha, "state": state, "context": context, "target_url": target_url, "description": description}
    posted = [status_post(actor=actor, app=app, token=token, **fields) for app in allowed or apps[:1]]
    return posted[0]


def github_apps(apps: QuerySet[App], *, owner: str, repo: str) -> list[App]:
    """The apps among `apps` whose repo_url is github.com/{owner}/{repo}, by slug."""
    wanted = f"{owner}/{repo}".lower()
    candidates = apps.filter(repo_url__icontains="github.com").filter(repo_url__icontains=wanted).order_by("slug")
    return [app for app in candidates if github_repository(app.repo_url) == wanted]


def ci_tokens(*, actor: Actor, app: App) -> list[ApiToken]:
    """The app's CI tokens, for its admins to review and revoke."""
    access.require(actor, app, Role.ADMIN, action="list CI tokens")
    return list(ApiToken.objects.filter(ci_app=app).select_related("user").order_by("id"))


def ci_token_revoke(*, actor: Actor, app: App, token_id: int) -> None:
    access.require(actor, app, Role.ADMIN, action="revoke CI tokens")
    token = ApiToken.objects.filter(pk=token_id, ci_app=app).select_related("user").first()
    if token is None:
        raise Http404("No such CI token.")
    _revoke(actor, token, why=f"revoked by {actor.name}")


def _revoke(actor: Actor, token: ApiToken, *, why: str) -> None:
    detail = f"Revoked CI token '{token.name}' of {token.user.username}: {why}."
    accounts.token_delete(actor=actor, token=token, detail=detail)


def ci_token_create(*, actor: Actor, app: App, name: str) -> str:
    """A token that can only post CI statuses to `app`; the raw token is shown once."""
    access.require(actor, app, Role.ADMIN, action="create CI tokens")
    name = name.strip()
    if not name:
        raise BadRequest("name: say which CI system will use the token.")
    with transaction.atomic():
        _, raw = ApiToken.issue(user=actor.user, name=name[:100], ci_app=app)
        audit.record(actor=actor, action="token.created", app=app, detail=f"Created CI token '{name[:100]}'.")
    return raw


def github_secret_set(*, actor: Actor, app: App, secret: str) -> None:
    from portal import crypto

    access.require(actor, app, Role.ADMIN, action="set the GitHub webhook secret")
    secret = secret.strip()
    if len(secret) < 16:
        raise BadRequest("secret: use at least 16 characters.")
    App.objects.filter(pk=app.pk).update(github_secret_encrypted=crypto.encrypt(secret))
    audit.record(actor=actor, action="app.changed", app=app, detail="Set the GitHub webhook secret.")


def combined(app: App, shas: list[str]) -> dict[str, Combined]:
    """The combined CI state of each sha that has any status (one query)."""
    grouped: dict[str, list[CommitStatus]] = {}
    for status in CommitStatus.objects.filter(app=app, sha__in=shas).order_by("context"):
        grouped.setdefault(status.sha, []).append(status)
    return {sha: Combined(state=_combine(found), contexts=found) for sha, found in grouped.items()}


def _combine(statuses: list[CommitStatus]) -> str:
    states = {status.state for status in statuses}
    if states & {CiState.FAILURE, CiState.ERROR}:
        return CiState.FAILURE
    if CiState.PENDING in states or not states:
        return CiState.PENDING
    return CiState.SUCCESS


def gate_problem(target: Target, sha: str) -> str | None:
    """Why `target` refuses `sha` (it requires CI and the sha is not green), or None."""
    if not target.require_ci:
        return None
    return verdict(target, sha, combined(target.app, [sha]).get(sha))


def verdict(target: Target, sha: str, found: Combined | None) -> str | None:
    """The gate's sentence for statuses already read (a page reads them once for all rows)."""
    if not target.require_ci:
        return None
    if found is None:
        return f"{target.name} requires CI and {sha[:7]} has no CI status yet."
    by_context = found.by_context
    wanted = list(target.required_contexts) or list(by_context)
    missing = [context for context in wanted if context not in by_context]
    if missing:
        return f"{target.name} requires CI and {sha[:7]} has no status for {', '.join(missing)}."
    not_green = [
        f"{context} is {by_context[context].state}" for context in wanted if by_context[context].state != "success"
    ]
    if not_green:
        return f"{target.name} requires CI and for {sha[:7]} {', '.join(not_green)}."
    return None
