"""Login plumbing: the lockout backend, the login form, and the receivers of Django's auth signals.

Receivers hold no logic: each turns a signal into one call of a service in portal.accounts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest

from portal.accounts import services as accounts
from portal.actor import Actor


class LockoutBackend(ModelBackend):
    """Django's ModelBackend that refuses a locked-out username before checking any password."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if username is not None and accounts.is_locked_out(username):
            raise PermissionDenied("Too many failed logins.")  # Django stops and sends user_login_failed
        return super().authenticate(request, username=username, password=password, **kwargs)


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password did not match. Please try again.",
    }

    def get_invalid_login_error(self) -> ValidationError:
        if accounts.is_locked_out(self.cleaned_data.get("username") or ""):
            return ValidationError(
                f"Too many failed logins: this account is locked for {settings.LOGIN_LOCKOUT_MINUTES} minutes.",
                code="locked_out",
            )
        return super().get_invalid_login_error()


def _source(request: HttpRequest | None) -> str:
    return "admin" if request is not None and request.path.startswith("/admin/") else "web"


def _ip(request: HttpRequest | None) -> str | None:
    return request.META.get("REMOTE_ADDR") or None if request is not None else None


@receiver(user_logged_in, dispatch_uid="bartender-login")
def _logged_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    accounts.login_succeeded(actor=Actor(user=user, source=_source(request), ip=_ip(request)))


@receiver(user_logged_out, dispatch_uid="bartender-logout")
def _logged_out(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if user is not None:
        accounts.logged_out(actor=Actor(user=user, source=_source(request), ip=_ip(request)))


@receiver(user_login_failed, dispatch_uid="bartender-login-failed")
def _login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    accounts.login_failed(username=str(credentials.get("username", "")), source=_source(request), ip=_ip(request))
