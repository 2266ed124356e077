"""The JSON API under /api/: its routers (one per layer's endpoints) and JSON errors.

Authentication is portal/apiauth.py; the endpoints live with what they serve.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from deployments.api.commits import router as commits_router
from deployments.api.delivery import router as delivery_router
from deployments.api.deployments import router as deployments_router
from portal.apiauth import SessionAuth, TokenAuth
from portal.errors import ServiceError
from projects.api.access import router as access_router
from projects.api.apps import router as apps_router
from projects.api.audit import router as audit_router
from projects.api.ci import router as ci_router
from projects.api.freezes import router as freezes_router

api = NinjaAPI(
    title="Bartender API",
    version="1",
    description=(
        "Deploy any commit of any app. Authenticate with `Authorization: Bearer TOKEN` (GitHub's "
        "`Authorization: token TOKEN` alike) or a signed-in browser session with its CSRF token on writes."
    ),
    auth=[TokenAuth(), SessionAuth()],
    openapi_url="/openapi.json",
    docs_url="/docs",
    urls_namespace="api",
)


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
    response = _detail(request, 401, "Give a valid API token: Authorization: Bearer TOKEN.")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


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


api.add_router("", apps_router)
api.add_router("", access_router)
api.add_router("", ci_router)
api.add_router("", freezes_router)
api.add_router("", audit_router)
api.add_router("", deployments_router)
api.add_router("", delivery_router)
api.add_router("", commits_router)
