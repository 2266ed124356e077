"""Signing in and API tokens: the services behind the login backend, the profile page and the admin.

The login lockout keeps its count in the shared cache (the database's cache table, or Redis),
so every web process on every machine sees the same count. Each attempt reserves a slot before
its password is checked: a slot is a cache key taken with `add`, which only one caller can win
(an INSERT on a unique key, or Redis SET NX), so thirty attempts at once still check at most
LOGIN_FAILURE_LIMIT passwords. A failed check keeps its slot; a good one gives it back. Slots
are kept per fixed window of LOGIN_LOCKOUT_MINUTES and read across the last two, with their
times, so the count is the failures of the last LOGIN_LOCKOUT_MINUTES by our own clock
(`timezone.now`), whatever the cache's expiry does; an old window's keys are never reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest
from portal.models import ApiToken

# A name is locked at once from every address after this many times LOGIN_FAILURE_LIMIT failures.
NAME_LIMIT_FACTOR = 10
# Failed logins for names no user has, recorded one by one per address and minute; the rest are
# counted in the next event recorded, so guessing names cannot fill the append-only audit.
UNKNOWN_NAME_EVENTS_PER_MINUTE = 3
NAME_MAX = 150  # the longest user name Django allows


@dataclass(frozen=True)
class _Scope:
    key: str  # a hash: the cache never holds a tried name or address in the clear
    limit: int
    everywhere: bool  # the name from any address, rather than the name from one address


@dataclass(frozen=True)
class LoginAttempt:
    """A password check reserved in both counts; given back or kept once the check is done."""

    username: str
    ip: str | None
    at: float
    slots: tuple[str, str]  # the name-and-address slot, the name slot


@dataclass(frozen=True)
class _Count:
    taken: int  # reserved slots in the window: failures and checks still running
    failed: int
    locked: bool
    free: list[str]  # this window's slots that may still be taken, in order


def _window() -> int:
    return settings.LOGIN_LOCKOUT_MINUTES * 60


def _now() -> float:
    return timezone.now().timestamp()


def _network(ip: str | None) -> str:
    """The client's address; an IPv6 one by its /64, which one customer usually holds whole."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "-"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _scopes(username: str, ip: str | None) -> tuple[_Scope, _Scope]:
    limit = settings.LOGIN_FAILURE_LIMIT
    return (
        _Scope(f"login:pair:{_hash(username, _network(ip))}", limit, everywhere=False),
        _Scope(f"login:name:{_hash(username)}", limit * NAME_LIMIT_FACTOR, everywhere=True),
    )


def _slots(scope: _Scope, window: int) -> list[str]:
    return [f"{scope.key}:{window}:{n}" for n in range(scope.limit)]


def _locks(scope: _Scope, window: int) -> list[str]:
    return [f"{scope.key}:locked:{window - 1}", f"{scope.key}:locked:{window}"]


def _count(scope: _Scope, now: float) -> _Count:
    window = int(now // _window())
    earlier, current, locks = _slots(scope, window - 1), _slots(scope, window), _locks(scope, window)
    found = cache.get_many(earlier + current + locks)
    # A slot's value is (reserved at, failed); the earlier window's slots count while inside ours.
    before = [found[key] for key in earlier if key in found and found[key][0] > now - _window()]
    here = [found[key] for key in current if key in found]
    # This window holds what the earlier one leaves: a room that only grows as the earlier slots
    # age, so every slot taken here lies below it and one `add` per slot keeps the total exact.
    room = max(scope.limit - len(before), 0)
    return _Count(
        taken=len(before) + len(here),
        failed=sum(1 for _, failed in before + here if failed),
        locked=any(found.get(key, 0) > now for key in locks),
        free=[key for key in current[:room] if key not in found],
    )


def _reserve(scope: _Scope, now: float) -> str | None:
    count = _count(scope, now)
    if count.locked:
        return None
    for key in count.free:
        if cache.add(key, (now, False), timeout=2 * _window() + 60):
            return key
    return None


def _attempted(username: str, *, source: str, ip: str | None) -> Actor:
    # The audit names whoever was tried, whether or not such a user exists.
    return Actor(user=get_user_model()(username=username[:NAME_MAX]), source=source, ip=ip)


def login_attempt_start(*, username: str, ip: str | None) -> LoginAttempt | None:
    """Reserve one password check of `username` from `ip`; None: the name is locked there, check nothing."""
    username = username[:NAME_MAX]
    now = _now()
    pair, name = _scopes(username, ip)
    pair_slot = _reserve(pair, now)
    if pair_slot is None:
        return None
    name_slot = _reserve(name, now)
    if name_slot is None:
        cache.delete(pair_slot)
        return None
    return LoginAttempt(username=username, ip=ip, at=now, slots=(pair_slot, name_slot))


def login_attempt_succeeded(*, attempt: LoginAttempt) -> None:
    """The right password: earlier failures from this address are forgiven, the others still count."""
    pair, _ = _scopes(attempt.username, attempt.ip)
    window = int(_now() // _window())
    forgiven = [*_slots(pair, window - 1), *_slots(pair, window), *_locks(pair, window)]
    cache.delete_many([*forgiven, attempt.slots[1]])


def login_attempt_failed(*, attempt: LoginAttempt, source: str, known: bool, detail: str = "") -> None:
    """A checked, wrong password: it keeps its slots, is audited, and may begin a lockout.

    `known`: a user has the name. Failures for unknown names are audited a few per address and
    minute (see UNKNOWN_NAME_EVENTS_PER_MINUTE).
    """
    for slot in attempt.slots:
        cache.set(slot, (attempt.at, True), timeout=2 * _window() + 60)
    actor = _attempted(attempt.username, source=source, ip=attempt.ip)
    detail = detail or f"Failed login as {attempt.username}."
    if known or _unknown_name_event_allowed(attempt.ip):
        audit.record(actor=actor, action="auth.login_failed", detail=detail + _unrecorded(attempt.ip))
    else:
        _count_unrecorded(attempt.ip)
    now = _now()
    for scope in _scopes(attempt.username, attempt.ip):
        if _count(scope, now).failed < scope.limit:
            continue
        # Only one of the failures that fill the count at once wins the lock's key.
        began = cache.add(_locks(scope, int(now // _window()))[1], now + _window(), timeout=_window() + 60)
        if began and (known or _unknown_name_event_allowed(attempt.ip)):
            where = " from every address" if scope.everywhere else ""
            audit.record(
                actor=actor,
                action="auth.lockout",
                detail=f"Locked out {attempt.username}{where} for {settings.LOGIN_LOCKOUT_MINUTES} minutes "
                f"after {scope.limit} failed logins.",
            )


def login_locked(*, username: str, ip: str | None) -> bool:
    """Whether a login of `username` from `ip` would now be refused without checking its password."""
    now = _now()
    for scope in _scopes(username[:NAME_MAX], ip):
        count = _count(scope, now)
        if count.locked or count.taken >= scope.limit:
            return True
    return False


def _unknown_key(ip: str | None) -> str:
    return f"login:unknown:{_hash(_network(ip))}"


def _unknown_name_event_allowed(ip: str | None) -> bool:
    minute = int(_now() // 60)
    keys = [f"{_unknown_key(ip)}:{minute}:{n}" for n in range(UNKNOWN_NAME_EVENTS_PER_MINUTE)]
    taken = cache.get_many(keys)
    return any(cache.add(key, True, timeout=120) for key in keys if key not in taken)


def _count_unrecorded(ip: str | None) -> None:
    key = f"{_unknown_key(ip)}:unrecorded"
    if not cache.add(key, 1, timeout=24 * 60 * 60):
        try:
            cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, timeout=24 * 60 * 60)


def _unrecorded(ip: str | None) -> str:
    """The failed logins for unknown names from `ip` not audited since its last event, as a clause."""
    key = f"{_unknown_key(ip)}:unrecorded"
    missed = cache.get(key, 0)
    if not missed:
        return ""
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing left to take away
        cache.decr(key, missed)
    return f" Also {missed} failed logins for unknown names from this address, not recorded one by one."


def login_succeeded(*, actor: Actor) -> None:
    audit.record(actor=actor, action="auth.login", detail="Logged in.")


def logged_out(*, actor: Actor) -> None:
    audit.record(actor=actor, action="auth.logout", detail="Logged out.")


def password_change(*, actor: Actor, user, new_password: str) -> None:
    """A user's new password, set by themselves (the form checked the old one through the lockout)."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(actor=actor, action="auth.password_changed", detail=f"Changed the password of {user.username}.")


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


def token_for(*, actor: Actor, token_id: int) -> ApiToken:
    """A token the actor may revoke: their own, or anyone's for staff. Someone else's is a 404."""
    token = ApiToken.objects.select_related("user", "ci_app").filter(pk=token_id).first()
    if token is None or not _may_manage_tokens_of(actor, token.user):
        raise Http404("No such token.")
    return token


def token_revoke(*, actor: Actor, token_id: int) -> None:
    """Revoke one token: its owner or staff. Someone else's token is a 404, as if it did not exist."""
    token = token_for(actor=actor, token_id=token_id)
    token_delete(actor=actor, token=token, detail=f"Revoked API token '{token.name}' of {token.user.username}.")


def token_delete(*, actor: Actor, token: ApiToken, detail: str) -> None:
    """Delete a token and audit `token.revoked`: the one way any token is revoked."""
    with transaction.atomic():
        # Conditional delete: two revokes at once leave one event.
        if ApiToken.objects.filter(pk=token.pk).delete()[0]:
            audit.record(actor=actor, action="token.revoked", app=token.ci_app, detail=detail)


def ci_token_refused(*, actor: Actor, token: ApiToken, what: str) -> None:
    audit.record(
        actor=actor,
        action="denied",
        app=token.ci_app,
        detail=f"Refused CI token '{token.name}' for {what[:200]}: it may only post CI statuses.",
    )


def session_write_refused(*, actor: Actor, what: str) -> None:
    audit.record(
        actor=actor, action="denied", detail=f"Refused {what[:200]}: the browser session sent no valid CSRF token."
    )
