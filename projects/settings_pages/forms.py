"""Forms of the settings pages: they parse what the browser sent; the services judge it."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal.errors import ServiceError
from projects.models import Role, Target


class CommaListField(forms.CharField):
    """A list of words typed as one comma-separated line (`ci/tests, lint`); saves a list."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(item).strip() for item in value if str(item).strip()]
        return [part.strip() for part in (value or "").split(",") if part.strip()]


def show_error(form: forms.Form, error: Exception) -> int:
    """Put a service's refusal on the form, beside the field its sentence names; the HTTP status."""
    message = str(error.args[0]) if error.args else str(error)
    field, _, sentence = message.partition(": ")
    named = re.match(r"[a-z_]+", field)  # `windows[0].kind: ...` is about the windows field
    if sentence and field in form.fields:
        form.add_error(field, sentence[:1].upper() + sentence[1:])
    elif sentence and named and named.group() in form.fields:
        form.add_error(named.group(), message)
    else:
        form.add_error(None, message)
    if isinstance(error, ServiceError):
        return error.status
    return 403 if isinstance(error, PermissionDenied) else 404 if isinstance(error, Http404) else 400


class SettingsForm(forms.Form):
    """Labels without Django's trailing colon: the pages read as sentences and labels name fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class TargetForm(SettingsForm):
    """A target's settings; `slug` only when it is made (the API's POST and PATCH fields)."""

    slug = forms.SlugField(max_length=60, help_text="In URLs and the API, e.g. production. Cannot change later.")
    name = forms.CharField(max_length=120)
    remote_url = forms.CharField(
        max_length=500, required=False, label="Git remote URL", help_text="Give this or a Heroku app, not both."
    )
    heroku_app = forms.CharField(max_length=100, required=False, label="Heroku app")
    api_key = forms.CharField(
        max_length=500,
        required=False,
        label="API key (the remote's password)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored one.",
    )
    push_ref = forms.CharField(max_length=255, initial="refs/heads/main", label="Push to ref")
    timeout_seconds = forms.IntegerField(
        min_value=1, required=False, label="Push timeout (seconds)", help_text="Empty: the installation's default."
    )
    protected = forms.BooleanField(
        required=False, help_text="Only app admins and people granted deploy_protected deploy, cancel or lock here."
    )
    require_ci = forms.BooleanField(required=False, label="Require green CI")
    required_contexts = CommaListField(
        required=False,
        label="Required CI contexts",
        help_text="Comma-separated, e.g. ci/tests, lint. Empty: every context reported must be green.",
    )
    auto_deploy_branch = forms.CharField(
        max_length=255, required=False, label="Auto-deploy branch", help_text="Deploy its head whenever it changes."
    )
    require_approval = forms.BooleanField(
        required=False, label="Require approval", help_text="A second person who could deploy here approves each one."
    )
    approval_minutes = forms.IntegerField(min_value=1, initial=60, label="Approval expires after (minutes)")
    windows = forms.JSONField(
        required=False,
        initial=list,
        label="Deploy windows (JSON)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='e.g. [{"kind": "allow", "schedule": "0 9 * * 1-5", "duration": "8h", "timezone": "Europe/Berlin"}]',
    )
    rollbacks_during_freeze = forms.BooleanField(
        required=False, initial=True, label="Rollbacks may go out during a freeze or outside the windows"
    )
    health_url = forms.CharField(
        max_length=1000, required=False, label="Health check URL", help_text="Polled after each push until 2xx."
    )
    health_timeout = forms.IntegerField(min_value=1, initial=60, label="Health check timeout (seconds)")
    auto_rollback = forms.BooleanField(required=False, label="Roll back automatically when unhealthy")

    def __init__(self, *args: Any, target: Target | None = None, **kwargs: Any) -> None:
        if target is not None and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(target, name) for name in self.base_fields if name != "api_key"}
        super().__init__(*args, **kwargs)
        self.target = target
        if target is not None:
            del self.fields["slug"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("remote_url") and cleaned.get("heroku_app"):
            self.add_error("remote_url", "Give a git remote URL or a Heroku app, not both.")
        if cleaned.get("windows") is None:
            cleaned["windows"] = []
        return cleaned

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values as target_create / target_update take them."""
        fields = {name: value for name, value in self.cleaned_data.items() if name != "api_key"}
        api_key = self.cleaned_data.get("api_key") or ""
        if self.target is None:
            return {**fields, "api_key": api_key}
        # Unchanged, the remote is not judged again: staff may have set one its admins could not.
        for name in ("remote_url", "heroku_app"):
            if fields[name] == getattr(self.target, name):
                fields[name] = None
        return {**fields, "api_key": api_key or None}


ROLE_CHOICES = [(role.value, role.label) for role in Role]


class GrantForm(SettingsForm):
    kind = forms.ChoiceField(choices=[("user", "person"), ("team", "team")], widget=forms.HiddenInput)
    name = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    deploy_protected = forms.BooleanField(required=False, label="May deploy to protected targets")


class GithubSecretForm(SettingsForm):
    secret = forms.CharField(
        max_length=200,
        label="Webhook secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="At least 16 characters; paste the same into GitHub. Write-only: never shown again.",
    )
