"""Admin building blocks: staff permissions, write-only secrets, change descriptions.

Staff act as admin on every app (CONTRACT.md), so staff may use every admin page here without
per-model Django permissions; what only a superuser may do stays with superusers.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from portal import crypto
from portal.actor import Actor


def admin_actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "admin")


def _is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


class StaffAdmin(admin.ModelAdmin):
    """Every staff user manages these models."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return _is_staff(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)


class StaffInline(admin.options.InlineModelAdmin):
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_staff(request)


class ReadOnlyAdmin(StaffAdmin):
    """History: staff look, nobody adds, changes or deletes (not even a superuser)."""

    actions = None

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SecretsForm(forms.ModelForm):
    """A model form with write-only secrets: a field sets the encrypted column and never shows it.

    Subclasses list `secrets = {"form field": "encrypted column"}` and declare the fields with
    `secret_field()`; each gets a "clear" box. An empty field keeps the stored value.
    """

    secrets: dict[str, str] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, column in self.secrets.items():
            stored = bool(getattr(self.instance, column, ""))
            self.fields[name].help_text = "Write-only. " + (
                "A value is stored: type a new one to replace it." if stored else "Nothing stored."
            )
            self.fields[f"clear_{name}"] = forms.BooleanField(required=False, label=f"Clear the stored {name}")

    def secret_changes(self) -> list[str]:
        """What happened to each secret, never its value: ['api_key replaced', ...]."""
        changes = []
        for name in self.secrets:
            if self.cleaned_data.get(name):
                changes.append(f"{name} replaced")
            elif self.cleaned_data.get(f"clear_{name}"):
                changes.append(f"{name} cleared")
        return changes

    def save(self, commit: bool = True):
        for name, column in self.secrets.items():
            if self.cleaned_data.get(name):
                setattr(self.instance, column, crypto.encrypt(self.cleaned_data[name]))
            elif self.cleaned_data.get(f"clear_{name}"):
                setattr(self.instance, column, "")
        return super().save(commit=commit)


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never shows a value, not even the one just posted when the form has errors."""

    def format_value(self, value) -> str:
        return ""


def secret_field(label: str, *, multiline: bool = False) -> forms.CharField:
    widget = WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off"}) if multiline else forms.PasswordInput()
    return forms.CharField(label=label, required=False, strip=not multiline, widget=widget)


def _short(value) -> str:
    text = "''" if value in (None, "") else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def change_text(form: forms.ModelForm) -> str:
    """A sentence of what a form changed: plain fields with before and after, secrets by name only."""
    secret_names = set(getattr(form, "secrets", {}))
    parts = []
    for name in form.changed_data:
        if name in secret_names or (name.startswith("clear_") and name[6:] in secret_names):
            continue
        field = form.fields[name]
        before, after = form.initial.get(name), form.cleaned_data.get(name)
        if isinstance(field, forms.ModelChoiceField) and before is not None:
            before = field.queryset.filter(pk=before).first()
        parts.append(f"{name}: {_short(before)} → {_short(after)}")
    if isinstance(form, SecretsForm):
        parts.extend(form.secret_changes())
    return "; ".join(parts)


