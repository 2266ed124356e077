"""Signing in and API tokens: the services behind the login signals, the profile page and the admin.

Failed logins are counted from the audit trail itself (auth.login_failed events), so the
lockout needs no table of its own and works the same across web processes and machines.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from portal.actor import Actor
from portal.audit import events as audit
from portal.audit.models import AuditEvent
from portal.errors import BadRequest
from portal.models import ApiToken


def _attempted(username: str, *, source: str, ip: str | None) -> Actor:
    # The audit names whoever was tried, whether or not such a user exists.
    return Actor(user=get_user_model()(username=username[:150]), source=source, ip=ip)


def recent_failures(username: str) -> int:
    """Failed logins of `username` inside the lockout window and after its last good login."""
    since = timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    events = AuditEvent.objects.filter(actor=username[:150], at__gte=since)
    last_login = events.filter(action="auth.login").order_by("-id").values_list("id", flat=True).first()
    failures = events.filter(action="auth.login_failed")
    if last_login is not None:
        failures = failures.filter(id__gt=last_login)
    return failures.count()


def is_locked_out(username: str) -> bool:
    return recent_failures(username) >= settings.LOGIN_FAILURE_LIMIT


def login_succeeded(*, actor: Actor) -> None:
    audit.record(actor=actor, action="auth.login", detail="Logged in.")


def logged_out(*, actor: Actor) -> None:
    audit.record(actor=actor, action="auth.logout", detail="Logged out.")


def login_failed(*, username: str, source: str, ip: str | None) -> None:
    """One auth.login_failed per attempt; one auth.lockout when the attempts reach the limit."""
    actor = _attempted(username, source=source, ip=ip)
    limit = settings.LOGIN_FAILURE_LIMIT
    before = recent_failures(username)
    if before >= limit:
        audit.record(actor=actor, action="auth.login_failed", detail=f"Refused a login as {username}: locked out.")
        return
    audit.record(actor=actor, action="auth.login_failed", detail=f"Failed login as {username}.")
    if before + 1 == limit:
        audit.record(
            actor=actor,
            action="auth.lockout",
            detail=f"Locked out {username} for {settings.LOGIN_LOCKOUT_MINUTES} minutes after {limit} failed logins.",
        )


def _may_manage_tokens_of(actor: Actor, user) -> bool:
    who = actor.user
    return bool(who and who.is_authenticated and (who.pk == user.pk or who.is_staff))


def token_create(*, actor: Actor, user, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new API token for `user` (themselves, or anyone for staff): the row and the raw token, once."""
    if not _may_manage_tokens_of(actor, user):
        audit.record(actor=actor, action="denied", detail=f"Refused to create an API token for {user.username}.")
        raise PermissionDenied("You may only create tokens for yourself.")
    name = name.strip()
    if not name:
        raise BadRequest("name: give the token a name to recognise it by.")
    if len(name) > 100:
        raise BadRequest("name: at most 100 characters.")
    if expires_at is not None and expires_at <= timezone.now():
        raise BadRequest("expires_at: must be in the future.")
    with transaction.atomic():
        token, raw = ApiToken.issue(user=user, name=name, expires_at=expires_at)
        until = f", expiring {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        audit.record(
            actor=actor, action="token.created", detail=f"Created API token '{name}' for {user.username}{until}."
        )
    return token, raw


def token_revoke(*, actor: Actor, token_id: int) -> None:
    """Revoke one token: its owner or staff. Someone else's token is a 404, as if it did not exist."""
    token = ApiToken.objects.select_related("user", "ci_app").filter(pk=token_id).first()
    if token is None or not _may_manage_tokens_of(actor, token.user):
        raise Http404("No such token.")
    with transaction.atomic():
        # Conditional delete: two revokes at once leave one event.
        if ApiToken.objects.filter(pk=token.pk).delete()[0]:
            audit.record(
                actor=actor,
                action="token.revoked",
                app=token.ci_app,
                detail=f"Revoked API token '{token.name}' of {token.user.username}.",
            )
