"""Single sign-on: who a provider's subject is in Bartender, and what its groups make them.

`sign_in` turns verified claims (portal.accounts.oidc) into a user: the one linked to the
(issuer, subject), or a new one the first time; then it sets that user's memberships of the
mapped teams and the staff flag from the groups claim. Teams nobody mapped are left alone, and
so are local accounts. Refusals raise SsoRefused with a sentence; the view audits them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from portal.actor import Actor
from portal.audit import events as audit
from portal.models import SsoIdentity

BACKEND = "portal.accounts.sso.SsoBackend"
NAME_MAX = 150


class SsoRefused(Exception):
    """A sign-in the provider vouched for but Bartender refuses; `status` is the answer to give."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class SsoBackend(ModelBackend):
    """Keeps the sessions of single sign-on users (Django reloads a session's user through the
    backend that signed it in); it checks no password, so it signs nobody in by itself."""

    def authenticate(self, request, **credentials) -> None:
        return None


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def password_allowed(username: str) -> bool:
    """Whether a password sign-in of `username` may be checked (OIDC_ONLY keeps one break-glass account)."""
    if not (enabled() and settings.OIDC_ONLY):
        return True
    return bool(settings.OIDC_BREAK_GLASS_USER) and username == settings.OIDC_BREAK_GLASS_USER


def groups_of(claims: dict[str, Any]) -> set[str]:
    """The groups claim as names: a list of strings, or one string; anything else counts as none."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def _username(claims: dict[str, Any]) -> str:
    for key in ("preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:NAME_MAX]
    raise SsoRefused("The sign-in provider sent neither a preferred_username nor an email to name you by.")


def sign_in(*, claims: dict[str, Any], ip: str | None) -> Any:
    """The Bartender user these verified claims are, with their mapped teams and staff flag set."""
    User = get_user_model()
    issuer, subject = settings.OIDC_ISSUER, claims["sub"]
    groups = groups_of(claims)
    teams = {settings.OIDC_TEAM_MAP[group] for group in groups if group in settings.OIDC_TEAM_MAP}
    if settings.OIDC_REQUIRE_GROUP and not teams:
        raise SsoRefused("Your account at the sign-in provider is in none of the groups Bartender accepts.")
    with transaction.atomic():
        identity = SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is not None:
            user = identity.user
            if not user.is_active:
                raise SsoRefused(f"The Bartender account {user.username} is deactivated.")
        else:
            username = _username(claims)
            if User._default_manager.filter(username=username).exists():
                raise SsoRefused(
                    f"A Bartender account named {username} already exists and is not linked to this sign-in "
                    "provider; ask an administrator to link or rename it.",
                    status=409,
                )
            try:
                with transaction.atomic():
                    user = User._default_manager.create_user(username=username, email=_email(claims))
                    SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
            except IntegrityError:  # the same first sign-in, twice at once
                raise SsoRefused("This account was signed in for the first time twice at once; try again.") from None
            audit.record(
                actor=Actor(user=user, source="sso", ip=ip),
                action="user.created",
                detail=f"Created {username} at the first single sign-on of subject {subject[:100]}.",
            )
        _set_access(user=user, teams=teams, staff=bool(groups & set(settings.OIDC_STAFF_GROUPS)), ip=ip)
    return user


def _email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    return email[:254] if isinstance(email, str) else ""


def _set_access(*, user: Any, teams: set[str], staff: bool, ip: str | None) -> None:
    """Memberships of the mapped teams exactly `teams`; other teams untouched; is_staff `staff`."""
    mapped = set(settings.OIDC_TEAM_MAP.values())
    current = set(user.groups.filter(name__in=mapped).values_list("name", flat=True))
    joined, left = sorted(teams - current), sorted(current - teams)
    if joined:
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in joined))
    if left:
        user.groups.remove(*Group.objects.filter(name__in=left))
    changes = [f"joined {', '.join(joined)}"] if joined else []
    changes += [f"left {', '.join(left)}"] if left else []
    if user.is_staff != staff:
        type(user)._default_manager.filter(pk=user.pk).update(is_staff=staff)
        user.is_staff = staff
        changes.append("is now staff" if staff else "is no longer staff")
    if changes:
        audit.record(
            actor=Actor(user=user, source="sso", ip=ip),
            action="access.changed",
            detail=f"Single sign-on: {user.username} {'; '.join(changes)} (from the provider's groups).",
        )
