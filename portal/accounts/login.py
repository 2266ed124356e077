"""Login plumbing: the lockout backend, the login and password-change forms, the auth signal receivers.

Every password check goes through portal.accounts' lockout: the attempt is reserved first, so a
name locked from an address (or everywhere) is refused without checking anything. Receivers hold
no logic: each turns a signal into one call of a service in portal.accounts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest

from portal.accounts import services as accounts
from portal.accounts import sso
from portal.actor import Actor


def _locked_error() -> ValidationError:
    return ValidationError(
        f"Too many failed logins: this account is locked for {settings.LOGIN_LOCKOUT_MINUTES} minutes.",
        code="locked_out",
    )


class LockoutBackend(ModelBackend):
    """Django's ModelBackend, with each password check reserved in the lockout before it is made."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        User = get_user_model()
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        if not sso.password_allowed(str(username)):
            return None  # single sign-on only: nothing checked, so nothing counted by the lockout
        attempt = accounts.login_attempt_start(username=str(username), ip=_ip(request))
        if attempt is None:
            raise PermissionDenied("Too many failed logins.")  # Django stops here: nothing was checked
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            User().set_password(password)  # as slow as a real check, so the time tells no names
            accounts.login_attempt_failed(attempt=attempt, source=_source(request), known=False)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            accounts.login_attempt_succeeded(attempt=attempt)
            return user
        accounts.login_attempt_failed(attempt=attempt, source=_source(request), known=True)
        return None


class LoginForm(auth_forms.AuthenticationForm):
    error_messages = {
        **auth_forms.AuthenticationForm.error_messages,
        "invalid_login": "Your username and password did not match. Please try again.",
    }

    def get_invalid_login_error(self) -> ValidationError:
        if not sso.password_allowed(self.cleaned_data.get("username") or ""):
            return ValidationError(
                f"Password sign-in is turned off: sign in with {settings.OIDC_PROVIDER_NAME}.", code="sso_only"
            )
        if accounts.login_locked(username=self.cleaned_data.get("username") or "", ip=_ip(self.request)):
            return _locked_error()
        return super().get_invalid_login_error()


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's form, with the old password checked through the same lockout as a login."""

    def __init__(self, user, *args, request: HttpRequest | None = None, **kwargs) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        attempt = accounts.login_attempt_start(username=self.user.get_username(), ip=_ip(self.request))
        if attempt is None:
            raise _locked_error()
        if not self.user.check_password(old_password):
            accounts.login_attempt_failed(
                attempt=attempt,
                source="web",
                known=True,
                detail=f"Wrong current password given to change the password of {attempt.username}.",
            )
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        accounts.login_attempt_succeeded(attempt=attempt)
        return old_password


def _source(request: HttpRequest | None, user=None) -> str:
    if user is not None and getattr(user, "backend", "") == sso.BACKEND:
        return "sso"
    return "admin" if request is not None and request.path.startswith("/admin/") else "web"


def _ip(request: HttpRequest | None) -> str | None:
    return request.META.get("REMOTE_ADDR") or None if request is not None else None


@receiver(user_logged_in, dispatch_uid="bartender-login")
def _logged_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    accounts.login_succeeded(actor=Actor(user=user, source=_source(request, user), ip=_ip(request)))


@receiver(user_logged_out, dispatch_uid="bartender-logout")
def _logged_out(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if user is not None:
        accounts.logged_out(actor=Actor(user=user, source=_source(request), ip=_ip(request)))
