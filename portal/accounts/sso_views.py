"""The two single sign-on pages: /oidc/login/ sends the browser to the provider, /oidc/callback/
brings it back signed in. A failure answers a page with a sentence (never a traceback) and is
audited `auth.sso_failed`; it is not a password failure, so the login lockout does not count it."""

from __future__ import annotations

import time
from dataclasses import asdict

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from portal.accounts import oidc, sso
from portal.actor import Actor
from portal.audit import events as audit

SESSION_KEY = "oidc_pending"
PENDING_MAX = 5  # sign-ins started in other tabs of one browser and not yet finished
PENDING_SECONDS = 10 * 60


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _failed(request: HttpRequest, message: str, *, status: int, who: str = "", record: bool = True) -> HttpResponse:
    if record:
        user = get_user_model()(username=who[:150]) if who else None
        audit.record(actor=Actor(user=user, source="sso", ip=_ip(request)), action="auth.sso_failed", detail=message)
    return render(
        request,
        "registration/sso_error.html",
        {"message": message, "provider": settings.OIDC_PROVIDER_NAME},
        status=status,
    )


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


@never_cache
def oidc_login(request: HttpRequest) -> HttpResponse:
    if not sso.enabled():
        raise Http404("Single sign-on is not configured.")
    try:
        url, pending = oidc.begin(
            redirect_uri=request.build_absolute_uri(reverse("oidc-callback")),
            next_url=_safe_next(request, request.GET.get("next", "")),
        )
    except oidc.OidcError as error:
        return _failed(request, str(error), status=error.status)
    kept = dict(list(request.session.get(SESSION_KEY, {}).items())[-(PENDING_MAX - 1) :])
    kept[pending.state] = asdict(pending)
    request.session[SESSION_KEY] = kept
    return redirect(url)


@never_cache
def oidc_callback(request: HttpRequest) -> HttpResponse:
    if not sso.enabled():
        raise Http404("Single sign-on is not configured.")
    kept = request.session.get(SESSION_KEY, {})
    state = request.GET.get("state", "")
    data = kept.pop(state, None) if state else None
    request.session[SESSION_KEY] = kept
    if data is None:
        # Audited only when this browser did start a sign-in: a bare request writes nothing.
        return _failed(
            request,
            "The sign-in answer does not match a sign-in started here (its state is wrong or was used): start again.",
            status=400,
            record=bool(kept),
        )
    pending = oidc.Pending(**data)
    if time.time() - pending.started_at > PENDING_SECONDS:
        return _failed(request, "The sign-in took longer than 10 minutes and has expired: start again.", status=400)
    if "error" in request.GET:
        code = request.GET["error"]
        code = code if code.replace("_", "").isalnum() else "an error"
        return _failed(request, f"The sign-in provider refused the sign-in ({code[:60]}).", status=403)
    code = request.GET.get("code", "")
    if not code:
        return _failed(request, "The sign-in provider sent no authorization code.", status=400)
    try:
        claims = oidc.finish(pending=pending, code=code)
    except oidc.OidcError as error:
        return _failed(request, str(error), status=error.status)
    who = claims.get("preferred_username") or claims.get("email") or ""
    try:
        user = sso.sign_in(claims=claims, ip=_ip(request))
    except sso.SsoRefused as error:
        return _failed(request, str(error), status=error.status, who=who if isinstance(who, str) else "")
    user.backend = sso.BACKEND  # read by the login receiver, which audits the source as sso
    login(request, user)
    return redirect(pending.next)
