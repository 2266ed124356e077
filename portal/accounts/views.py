"""The signed-in user's own account: profile with API tokens, the login page, the password change."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts import services as accounts
from portal.accounts import sso
from portal.accounts.login import LoginForm, PasswordChangeForm
from portal.actor import Actor
from portal.errors import ServiceError
from portal.models import ApiToken


class _Login(auth_views.LoginView):
    """Django's login page, offering single sign-on beside the password form when configured."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        sso_on = sso.enabled()
        return {
            **super().get_context_data(**kwargs),
            "sso_name": settings.OIDC_PROVIDER_NAME if sso_on else "",
            "sso_only": sso_on and settings.OIDC_ONLY,
        }


login = _Login.as_view()
MAX_EXPIRY_DAYS = 3650


class _PasswordChange(auth_views.PasswordChangeView):
    """Django's page (login required, CSRF, passwords kept out of error reports); the old password
    goes through the login lockout and the change is audited."""

    form_class = PasswordChangeForm

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        accounts.password_change(
            actor=Actor.from_request(self.request, "web"),
            user=form.user,
            new_password=form.cleaned_data["new_password1"],
        )
        update_session_auth_hash(self.request, form.user)  # this session stays signed in, the others end
        return HttpResponseRedirect(self.get_success_url())


password_change = _PasswordChange.as_view()


def _render_profile(request: HttpRequest, *, new_token: str = "", status: int = 200) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user).select_related("ci_app").order_by("-created_at")
    return render(
        request,
        "portal/profile.html",
        {"tokens": tokens, "new_token": new_token, "now": timezone.now()},
        status=status,
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return _render_profile(request)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    days = request.POST.get("expires_days", "").strip()
    if days and (not days.isdigit() or not 1 <= int(days) <= MAX_EXPIRY_DAYS):
        messages.error(request, f"Expiry: a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or empty for never.")
        return redirect("profile")
    expires_at = timezone.now() + timedelta(days=int(days)) if days else None
    try:
        _, raw = accounts.token_create(
            actor=Actor.from_request(request, "web"),
            user=request.user,
            name=request.POST.get("name", ""),
            expires_at=expires_at,
        )
    except ServiceError as error:
        messages.error(request, str(error))
        return redirect("profile")
    # Shown on this one answer only: the token is not kept anywhere but its hash.
    return _render_profile(request, new_token=raw, status=201)


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """GET asks first (which token, what stops working); POST revokes."""
    actor = Actor.from_request(request, "web")
    if request.method == "GET":
        token = accounts.token_for(actor=actor, token_id=token_id)
        return render(request, "portal/revoke_token.html", {"token": token})
    accounts.token_revoke(actor=actor, token_id=token_id)
    messages.info(request, "Token revoked.")
    return redirect("profile")
