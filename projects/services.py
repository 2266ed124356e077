"""Creating and changing apps, targets, access and users. Callers: API, admin, commands."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404

from portal import crypto, outbound
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest, Conflict
from projects import access, mirror, tasks, windows
from projects.git import GitError
from projects.models import Access, App, Role, Target
from projects.validators import remote_matches

# Heroku's rule: "must start with a letter, end with a letter or digit and can only contain
# lowercase letters, digits, and dashes", 3 to 30 characters. \Z, not $: $ also matches before
# a final newline.
HEROKU_APP_NAME = re.compile(r"\A[a-z][a-z0-9-]{1,28}[a-z0-9]\Z")


def _clean(obj, exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise BadRequest(f"{field}: {' '.join(messages)}") from None


def _clean_windows(fields: dict) -> None:
    """Deploy windows as stored (projects/windows.py); a bad one is a 400 naming its field."""
    if "windows" in fields:
        try:
            fields["windows"] = windows.clean_windows(fields["windows"])
        except ValueError as error:
            raise BadRequest(str(error)) from None


def _require_staff(actor: Actor, action: str) -> None:
    if not _is_staff(actor):
        audit.record(actor=actor, action="denied", detail=f"Refused to {action}: staff only.")
        raise PermissionDenied(f"Only staff may {action}.")


def user_create(*, actor: Actor, username: str, password: str, email: str = ""):
    _require_staff(actor, "create users")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise Conflict(f"The user '{username}' already exists.")
    user = User(username=username, email=email)
    _clean(user, exclude=["password"])
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise BadRequest(f"password: {' '.join(error.messages)}") from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            audit.record(actor=actor, action="user.created", detail=f"Created user {username}.")
    except IntegrityError:
        raise Conflict(f"The user '{username}' already exists.") from None
    return user


def app_create(*, actor: Actor, slug: str, name: str, repo_url: str, default_branch: str = "") -> App:
    """Register an app; without a default branch, the repository's own (its HEAD) is used."""
    _require_staff(actor, "create apps")
    app = App(slug=slug, name=name, repo_url=repo_url, default_branch=default_branch or "main")
    _clean(app)
    if not default_branch:
        try:
            app.default_branch = mirror.remote_default_branch(app)
        except GitError as error:
            raise BadRequest(
                f"default_branch: not given, and the repository's could not be read ({error}); give it."
            ) from None
        _clean(app)
    if App.objects.filter(slug=slug).exists():
        raise Conflict(f"An app with the slug '{slug}' already exists.")
    try:
        with transaction.atomic():
            app.save()
            audit.record(actor=actor, action="app.created", app=app, detail=f"Created app {slug} from {repo_url}.")
            transaction.on_commit(lambda: tasks.enqueue_mirror_sync(app.pk))
    except IntegrityError:
        raise Conflict(f"An app with the slug '{slug}' already exists.") from None
    return app


def target_create(*, actor: Actor, app: App, api_key: str = "", **fields) -> Target:
    access.require(actor, app, Role.ADMIN, action="add targets")
    if bool(fields.get("remote_url")) == bool(fields.get("heroku_app")):
        raise BadRequest("remote_url: give exactly one of remote_url and heroku_app.")
    fields = {key: value for key, value in fields.items() if value is not None}
    _clean_windows(fields)
    _check_approval_minutes(fields.get("approval_minutes"))
    target = Target(app=app, **fields)
    _check_remote(actor, target)
    _check_health(target)
    target.api_key_encrypted = crypto.encrypt(api_key)
    try:
        with transaction.atomic():
            target.save()
            audit.record(
                actor=actor,
                action="target.created",
                target=target,
                detail=f"Added target {target.slug} pushing to {target.push_url}"
                + (" with an API key." if api_key else "."),
            )
    except IntegrityError:
        raise Conflict(f"The app already has a target '{target.slug}'.") from None
    return target


def target_update(*, actor: Actor, target: Target, api_key: str | None = None, **fields) -> Target:
    """Change a target's settings (any of target_create's fields but the slug); None leaves one as it is."""
    access.require(actor, target.app, Role.ADMIN, target=target, action="change targets")
    changes = {key: value for key, value in fields.items() if value is not None}
    _check_approval_minutes(changes.get("approval_minutes"))
    _clean_windows(changes)
    if changes.get("remote_url"):
        changes["heroku_app"] = ""
    elif changes.get("heroku_app"):
        changes["remote_url"] = ""
    said = _apply(target, changes)
    if bool(target.remote_url) == bool(target.heroku_app):
        raise BadRequest("remote_url: give exactly one of remote_url and heroku_app.")
    if "remote_url" in changes or "heroku_app" in changes:
        _check_remote(actor, target)
    else:
        _clean(target, exclude=["app"])
    if {"health_url", "health_timeout"} & set(changes):
        _check_health(target)
    if api_key is not None:
        target.api_key_encrypted = crypto.encrypt(api_key)
    if api_key is not None:
        said.append("API key changed")
    with transaction.atomic():
        target.save(update_fields=[*changes, *(["api_key_encrypted"] if api_key is not None else [])])
        audit.record(
            actor=actor,
            action="target.changed",
            target=target,
            detail=f"Changed target {target.slug}: {'; '.join(said) or 'nothing'}.",
        )
    return target


def _check_remote(actor: Actor, target: Target) -> None:
    """Where a target may push: the URL rules, then who may lend that reach, then one target per remote.

    A remote URL reaches whatever the worker can reach (its files, loopback services, its ssh
    identity), so only staff choose any URL; app admins choose among the app's and the
    installation's allowed patterns, or a Heroku app (CONTRACT.md, "Where code may go").
    """
    if target.heroku_app and not HEROKU_APP_NAME.match(target.heroku_app):
        raise BadRequest("heroku_app: not a valid Heroku app name.")
    _clean(target, exclude=["app"])
    if target.remote_url and not _is_staff(actor):
        patterns = [*target.app.allowed_remotes, *settings.ALLOWED_REMOTES]
        if not remote_matches(target.remote_url, patterns):
            audit.record(
                actor=actor,
                action="denied",
                app=target.app,
                detail=f"Refused a target remote outside the app's allowed remotes: {target.remote_url[:200]}",
            )
            raise PermissionDenied(
                "remote_url: app admins may only use a remote that matches the app's allowed_remotes "
                "(set by staff) or the installation's ALLOWED_REMOTES, or a heroku_app."
            )
    taken = remote_in_use(target)
    if taken is not None:
        where = "this app" if taken.app_id == target.app_id else "another app"
        raise Conflict(
            f"remote_url: {where} already has a target pushing to this remote; two targets never share one."
        )


HEALTH_TIMEOUT_RANGE = (5, 3600)  # seconds a health check may take before it calls a deployment unhealthy


def health_problem(*, url: str, timeout: int) -> str | None:
    """Why a target's health check settings may not be saved ("field: sentence"), or None.

    The URL is called by the worker, so it obeys the outgoing-HTTP rule (CONTRACT.md, "Where code
    may go"); the worker checks it again at every probe, as a name may resolve anew.
    """
    low, high = HEALTH_TIMEOUT_RANGE
    if not low <= timeout <= high:
        return f"health_timeout: must be between {low} and {high} seconds."
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"}:
        return "health_url: must be an http or https URL."
    if parts.username is not None or parts.password is not None:
        return "health_url: must not hold a user name or password (others can read the URL)."
    if problem := outbound.refusal(url):
        return f"health_url: {problem}."
    return None


def _check_health(target: Target) -> None:
    """After `_clean` (the URL's form): where the health check may go, and for how long."""
    if problem := health_problem(url=target.health_url, timeout=target.health_timeout):
        raise BadRequest(problem)


def _check_approval_minutes(minutes) -> None:
    """How long a deployment waits for its second person: a positive whole number of minutes."""
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1):
        raise BadRequest("approval_minutes: must be a positive whole number of minutes.")


def remote_in_use(target: Target) -> Target | None:
    """Another target pushing where `target` would (same URL, or the same Heroku app), if any."""
    others = Target.objects.exclude(pk=target.pk).select_related("app")
    if target.heroku_app:
        return others.filter(heroku_app=target.heroku_app).first() or others.filter(remote_url=target.push_url).first()
    taken = others.filter(remote_url=target.remote_url).first()
    if taken is None:  # the same remote spelled as another target's Heroku URL
        taken = next((t for t in others.exclude(heroku_app="") if t.push_url == target.remote_url), None)
    return taken


def _is_staff(actor: Actor) -> bool:
    return bool(actor.user and actor.user.is_authenticated and actor.user.is_staff)


def app_update(
    *, actor: Actor, app: App, name: str | None = None, default_branch: str | None = None,
    allowed_remotes: list[str] | None = None,
) -> App:  # fmt: skip
    """Staff change an app's name, default branch and where its admins may point targets."""
    _require_staff(actor, "change apps")
    changes = {
        key: value
        for key, value in {"name": name, "default_branch": default_branch, "allowed_remotes": allowed_remotes}.items()
        if value is not None
    }
    if "allowed_remotes" in changes:
        changes["allowed_remotes"] = [p.strip() for p in changes["allowed_remotes"] if isinstance(p, str)]
    said = _apply(app, changes)
    _clean(app)
    with transaction.atomic():
        app.save(update_fields=list(changes))
        audit.record(
            actor=actor,
            action="app.changed",
            app=app,
            detail=f"Changed app {app.slug}: {'; '.join(said) or 'nothing'}.",
        )
    return app


def _apply(obj, changes: dict) -> list[str]:
    """Set `changes` on `obj`; answers the audit's words for each value that really changed."""
    said = [f"{key}: {getattr(obj, key)!s} → {value!s}" for key, value in changes.items() if getattr(obj, key) != value]
    for key, value in changes.items():
        setattr(obj, key, value)
    return said


def role_text(role: str, deploy_protected: bool) -> str:
    """A grant as the audit words it."""
    return f"{role} + deploy_protected" if deploy_protected else role


def access_set(*, actor: Actor, app: App, username: str, role: str, deploy_protected: bool = False) -> Access:
    access.require(actor, app, Role.ADMIN, action="manage access")
    if role not in Role.values:
        raise BadRequest(f"role: must be one of {', '.join(Role.values)}.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise Http404(f"No user named '{username}'.")
    return _grant_set(actor=actor, app=app, holder={"user": user}, name=username, role=role,
                      deploy_protected=deploy_protected)  # fmt: skip


def _grant_set(
    *, actor: Actor, app: App, holder: dict, name: str, role: str, deploy_protected: bool
) -> Access:
    """Create or change one grant (of a user or a team, `holder`), auditing what changed."""
    with transaction.atomic():
        grant, created = Access.objects.select_for_update().get_or_create(
            app=app, **holder, defaults={"role": role, "deploy_protected": deploy_protected}
        )
        if created:
            audit.record(
                actor=actor,
                action="access.granted",
                app=app,
                detail=f"Granted {role_text(role, deploy_protected)} to {name}.",
            )
        elif (grant.role, grant.deploy_protected) != (role, deploy_protected):
            before = role_text(grant.role, grant.deploy_protected)
            grant.role, grant.deploy_protected = role, deploy_protected
            grant.save(update_fields=["role", "deploy_protected"])
            audit.record(
                actor=actor,
                action="access.changed",
                app=app,
                detail=f"Changed {name} from {before} to {role_text(role, deploy_protected)}.",
            )
    return grant


def access_revoke(*, actor: Actor, app: App, username: str) -> None:
    access.require(actor, app, Role.ADMIN, action="manage access")
    with transaction.atomic():
        deleted, _ = Access.objects.filter(app=app, user__username=username).delete()
        if not deleted:
            raise Http404(f"'{username}' has no grant on this app.")
        audit.record(actor=actor, action="access.revoked", app=app, detail=f"Revoked {username}'s access.")


def team_create(*, actor: Actor, name: str) -> Group:
    """Staff make a team (a Django group); its members and grants come afterwards."""
    _require_staff(actor, "create teams")
    name = name.strip()
    team = Group(name=name)
    _clean(team)
    if Group.objects.filter(name=name).exists():
        raise Conflict(f"The team '{name}' already exists.")
    try:
        with transaction.atomic():
            team.save()
            # The admin records nothing when a team is made; a team alone changes no one's role.
            audit.record(actor=actor, action="access.changed", detail=f"Created team {name}.")
    except IntegrityError:
        raise Conflict(f"The team '{name}' already exists.") from None
    return team


def team_list(*, actor: Actor) -> list[Group]:
    """Every team with its members, for staff."""
    _require_staff(actor, "list teams")
    return list(Group.objects.order_by("name").prefetch_related("user_set"))


def team_grant_set(*, actor: Actor, app: App, team_name: str, role: str, deploy_protected: bool = False) -> Access:
    """Give a team a role on an app (or change the one it holds); audited as the admin words it."""
    access.require(actor, app, Role.ADMIN, action="manage access")
    if role not in Role.values:
        raise BadRequest(f"role: must be one of {', '.join(Role.values)}.")
    team = Group.objects.filter(name=team_name).first()
    if team is None:
        raise Http404(f"No team named '{team_name}'.")
    return _grant_set(actor=actor, app=app, holder={"team": team}, name=f"team {team.name}", role=role,
                      deploy_protected=deploy_protected)  # fmt: skip


def team_grant_revoke(*, actor: Actor, app: App, team_name: str) -> None:
    access.require(actor, app, Role.ADMIN, action="manage access")
    team = Group.objects.filter(name=team_name).first()
    if team is None:
        raise Http404(f"No team named '{team_name}'.")
    with transaction.atomic():
        deleted, _ = Access.objects.filter(app=app, team=team).delete()
        if not deleted:
            raise Http404(f"The team '{team_name}' has no grant on this app.")
        audit.record(actor=actor, action="access.revoked", app=app, detail=f"Revoked team {team.name}'s access.")


def app_set_credentials(
    *,
    actor: Actor,
    app: App,
    repo_username: str | None = None,
    repo_token: str | None = None,
    ssh_key: str | None = None,
    ssh_known_hosts: str | None = None,
) -> App:
    """Set an app's read credentials (None leaves one as it is, '' clears it); audited, values never."""
    access.require(actor, app, Role.ADMIN, action="change the app's credentials")
    changed: list[str] = []
    if repo_username is not None:
        app.repo_username = repo_username
        changed.append("repo_username")
    if repo_token is not None:
        app.repo_token_encrypted = crypto.encrypt(repo_token)
        changed.append("repo_token_encrypted")
    if ssh_key is not None:
        app.ssh_key_encrypted = crypto.encrypt(ssh_key)
        changed.append("ssh_key_encrypted")
    if ssh_known_hosts is not None:
        app.ssh_known_hosts = ssh_known_hosts
        changed.append("ssh_known_hosts")
    if changed:
        with transaction.atomic():
            app.save(update_fields=changed)
            names = ", ".join(name.removesuffix("_encrypted") for name in changed)
            audit.record(actor=actor, action="app.changed", app=app, detail=f"Changed the read credentials: {names}.")
    return app


def app_set_github_token(*, actor: Actor, app: App, token: str) -> None:
    """Set (or with '' clear) the token the app's deployments are reported to GitHub with; audited,
    its value never. Write-only: nothing ever answers it back."""
    access.require(actor, app, Role.ADMIN, action="set the GitHub token")
    token = token.strip()
    if token and not re.fullmatch(r"[\x21-\x7e]{1,255}", token):
        raise BadRequest("token: a GitHub token is up to 255 printable characters without spaces.")
    with transaction.atomic():
        App.objects.filter(pk=app.pk).update(github_token_encrypted=crypto.encrypt(token))
        detail = "Set the GitHub token for deployments." if token else "Cleared the GitHub token for deployments."
        audit.record(actor=actor, action="app.changed", app=app, detail=detail)
