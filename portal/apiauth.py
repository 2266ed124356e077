"""Who calls the API: an API token (`Bearer TOKEN`, or GitHub's `token TOKEN`) or the browser's
session, CSRF-checked on writes. A caller with neither is a 401 on every method."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from portal.accounts import services as accounts
from portal.actor import Actor
from portal.models import ApiToken, hash_token

_LAST_USED_EVERY = timedelta(minutes=1)
_SCHEMES = ("bearer", "token")  # `token` is GitHub's form, which CI steps written for GitHub send


class TokenAuth(HttpBearer):
    """A user's API token; a CI token only where an endpoint allows it (elsewhere a 403, audited)."""

    def __init__(self, *, allow_ci: bool = False) -> None:
        super().__init__()
        self.allow_ci = allow_ci

    def __call__(self, request: HttpRequest):
        # Parsed here rather than by HttpBearer, which accepts `Bearer` only and logs the whole
        # header (the secret) in DEBUG when the scheme is another.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() not in _SCHEMES or not token:
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str):
        found = (
            ApiToken.objects.select_related("user", "ci_app")
            .filter(token_hash=hash_token(token), user__is_active=True)
            .first()
        )
        if found is None or found.is_expired:
            return None
        if found.ci_app_id and not self.allow_ci:
            who = Actor(user=found.user, source="api", ip=request.META.get("REMOTE_ADDR") or None)
            accounts.ci_token_refused(actor=who, token=found, what=f"{request.method} {request.path}")
            raise PermissionDenied("A CI token may only post CI statuses to its app.")
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > _LAST_USED_EVERY:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        request.api_token = found
        return found.user


class SessionAuth(APIKeyCookie):
    """The logged-in browser (the deployment page polls its log); CSRF-checked on writes."""

    param_name = "sessionid"

    def __call__(self, request: HttpRequest):
        # No signed-in session: not this scheme's caller, so a 401, never a CSRF refusal.
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request) is not None:
            accounts.session_write_refused(actor=actor(request), what=f"{request.method} {request.path}")
            raise PermissionDenied(
                "Refused: a browser session must send its CSRF token (X-CSRFToken), or use Authorization: Bearer TOKEN."
            )
        return user

    def authenticate(self, request: HttpRequest, key: str | None):
        return self(request)


def actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "api")
