"""The JSON API under /api/: bearer tokens (or the browser's session), JSON errors."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyCookie, HttpBearer

from portal.actor import Actor
from portal.errors import ServiceError
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


api = NinjaAPI(
    title="Bartender API",
    version="1",
    description="Deploy any commit of any app. Authenticate with `Authorization: Bearer TOKEN`.",
    auth=[TokenAuth(), SessionAuth()],
    openapi_url="/openapi.json",
    docs_url="/docs",
    urls_namespace="api",
)


def actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "api")


def _detail(request: HttpRequest, status: int, detail: str):
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(ServiceError)
def _service_error(request, exc: ServiceError):
    return _detail(request, exc.status, str(exc))


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _detail(request, 403, str(exc) or "You may not do this.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _detail(request, 404, str(exc) or "Not found.")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _detail(request, 401, "Give a valid API token: Authorization: Bearer TOKEN.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if str(exc).startswith("Cannot parse request body"):  # django-ninja's words for broken JSON
        return _detail(request, 400, "The request body is not valid JSON.")
    return _detail(request, exc.status_code, str(exc))


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    where = [str(part) for part in first.get("loc", []) if part not in ("body", "query", "path", "payload")]
    field = ".".join(where) or "body"
    message = first.get("msg", "is invalid")
    if first.get("type") == "missing":
        message = "is required"
    elif first.get("type") == "json_invalid":
        return _detail(request, 400, "The request body is not valid JSON.")
    return _detail(request, 400, f"{field}: {message}.")


def _register() -> None:
    from deployments.api import router as deployments_router
    from deployments.cd_api import router as cd_router
    from projects.api import router as projects_router

    api.add_router("", projects_router)
    api.add_router("", deployments_router)
    api.add_router("", cd_router)


_register()
