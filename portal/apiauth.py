"""Who calls the API: a bearer API token or the browser's session (CSRF-checked on writes)."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from portal.actor import Actor
from portal.models import ApiToken, hash_token

_LAST_USED_EVERY = timedelta(minutes=1)


class TokenAuth(HttpBearer):
    """A user's API token; CI tokens only where an endpoint allows them."""

    def __init__(self, *, allow_ci: bool = False) -> None:
        super().__init__()
        self.allow_ci = allow_ci

    def authenticate(self, request: HttpRequest, token: str):
        found = (
            ApiToken.objects.select_related("user").filter(token_hash=hash_token(token), user__is_active=True).first()
        )
        if found is None or found.is_expired or (found.ci_app_id and not self.allow_ci):
            return None
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > _LAST_USED_EVERY:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        request.api_token = found
        return found.user


class SessionAuth(APIKeyCookie):
    """The logged-in browser (the deployment page polls its log); CSRF-checked on writes."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None):
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None



def actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "api")
