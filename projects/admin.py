"""The admin of apps, targets and access: every save and delete is audited (source admin).

Secrets (an app's repository token, SSH key and webhook secret, a target's API key) are
write-only form fields; the audit says which was replaced or cleared, never its value.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest

from portal.actor import Actor
from portal.adminkit import SecretsForm, StaffAdmin, StaffInline, admin_actor, change_text, secret_field
from portal.audit import events as audit
from projects.models import Access, App, Freeze, Target
from projects.services import HEROKU_APP_NAME, health_problem, remote_in_use, role_text
from projects.settings_pages.forms import CommaListField
from projects.windows import clean_windows


class AppForm(SecretsForm):
    secrets = {
        "repo_token": "repo_token_encrypted",
        "ssh_key": "ssh_key_encrypted",
        "github_secret": "github_secret_encrypted",
        "github_token": "github_token_encrypted",
    }
    repo_token = secret_field("Repository token (https)")
    ssh_key = secret_field("SSH private key", multiline=True)
    github_secret = secret_field("GitHub webhook secret")
    github_token = secret_field("GitHub token (reports deployments)")

    class Meta:
        model = App
        fields = (
            "slug",
            "name",
            "repo_url",
            "default_branch",
            "allowed_remotes",
            "repo_username",
            "ssh_known_hosts",
        )


class TargetForm(SecretsForm):
    secrets = {"api_key": "api_key_encrypted"}
    api_key = secret_field("API key (the git remote's password)")
    required_contexts = CommaListField(
        required=False, help_text="Comma-separated CI contexts, e.g. ci/tests, lint; empty: every reported one."
    )
    health_url = forms.URLField(
        max_length=1000, required=False, assume_scheme="https", help_text=Target._meta.get_field("health_url").help_text
    )

    class Meta:
        model = Target
        fields = (
            "app",
            "slug",
            "name",
            "remote_url",
            "heroku_app",
            "push_ref",
            "protected",
            "require_ci",
            "required_contexts",
            "require_approval",
            "approval_minutes",
            "timeout_seconds",
            "auto_deploy_branch",
            "health_url",
            "health_timeout",
            "auto_rollback",
            "windows",
            "rollbacks_during_freeze",
            "position",
        )

    def clean_approval_minutes(self) -> int:
        minutes = self.cleaned_data.get("approval_minutes")
        if minutes is None or minutes < 1:
            raise forms.ValidationError("A positive whole number of minutes.")
        return minutes

    def clean_windows(self) -> list[dict]:
        try:
            return clean_windows(self.cleaned_data.get("windows"))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_heroku_app(self) -> str:
        value = self.cleaned_data.get("heroku_app", "")
        if value and not HEROKU_APP_NAME.match(value):
            raise forms.ValidationError("Not a valid Heroku app name.")
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        if "health_url" in cleaned and "health_timeout" in cleaned:  # both passed their field checks
            problem = health_problem(url=cleaned["health_url"] or "", timeout=cleaned["health_timeout"])
            if problem:
                field, _, sentence = problem.partition(": ")
                self.add_error(field, sentence[:1].upper() + sentence[1:])
        mine = Target(
            pk=self.instance.pk,
            remote_url=cleaned.get("remote_url") or "",
            heroku_app=cleaned.get("heroku_app") or "",
        )
        if remote_in_use(mine):
            raise forms.ValidationError("Another target already pushes to this remote; two targets never share one.")
        return cleaned


def _who(grant: Access) -> str:
    return grant.user.username if grant.user_id else f"team {grant.team.name}"


def record_saved(actor: Actor, obj, form: forms.ModelForm, *, created: bool) -> None:
    """One event for one saved app, target or grant, saying what changed."""
    if isinstance(obj, App):
        if created:
            secrets = "".join(f"; {change} " for change in form.secret_changes()).replace("replaced", "set")
            detail = f"Created app {obj.slug} from {obj.repo_url}{secrets.rstrip()}."
            audit.record(actor=actor, action="app.created", app=obj, detail=detail)
        elif form.has_changed():
            audit.record(actor=actor, action="app.changed", app=obj, detail=f"Changed {obj.slug}: {change_text(form)}.")
    elif isinstance(obj, Target):
        if created:
            key = " with an API key" if obj.api_key_encrypted else ""
            detail = f"Added target {obj.slug} pushing to {obj.push_url}{key}."
            audit.record(actor=actor, action="target.created", target=obj, detail=detail)
        elif form.has_changed():
            detail = f"Changed {obj.slug}: {change_text(form)}."
            audit.record(actor=actor, action="target.changed", target=obj, detail=detail)
    elif isinstance(obj, Access):
        now = role_text(obj.role, obj.deploy_protected)
        if created:
            audit.record(actor=actor, action="access.granted", app=obj.app, detail=f"Granted {now} to {_who(obj)}.")
        elif form.has_changed():
            before = role_text(form.initial.get("role", obj.role), form.initial.get("deploy_protected", False))
            if {"user", "team", "app"} & set(form.changed_data):
                detail = f"Changed a grant: {change_text(form)}."
            else:
                detail = f"Changed {_who(obj)} from {before} to {now}."
            audit.record(actor=actor, action="access.changed", app=obj.app, detail=detail)


def record_deleted(actor: Actor, obj) -> None:
    """One event for one deleted app, target or grant (before the row goes)."""
    if isinstance(obj, App):
        targets = ", ".join(obj.targets.values_list("slug", flat=True)) or "none"
        grants = obj.grants.count()
        detail = f"Deleted app {obj.slug} (targets: {targets}; {grants} grants); its deployments and logs went with it."
        audit.record(actor=actor, action="app.deleted", app=obj, detail=detail)
    elif isinstance(obj, Target):
        count = obj.deployments.count()
        detail = f"Deleted target {obj.slug}; its {count} deployments went with it."
        audit.record(actor=actor, action="target.deleted", target=obj, detail=detail)
    elif isinstance(obj, Access):
        audit.record(actor=actor, action="access.revoked", app=obj.app, detail=f"Revoked {_who(obj)}'s access.")


def record_team_members(actor: Actor, team: Group, *, added: list[str], removed: list[str]) -> None:
    """Team membership changes what its members may do on each app the team holds a grant on."""
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    if not parts:
        return
    for grant in Access.objects.filter(team=team).select_related("app"):
        detail = (
            f"Team {team.name}: {'; '.join(parts)} (the team holds {role_text(grant.role, grant.deploy_protected)})."
        )
        audit.record(actor=actor, action="access.changed", app=grant.app, detail=detail)


def record_team_deleted(actor: Actor, team: Group) -> None:
    for grant in Access.objects.filter(team=team).select_related("app"):
        detail = f"Revoked team {team.name}'s access (team deleted)."
        audit.record(actor=actor, action="access.revoked", app=grant.app, detail=detail)


class AuditedAdmin(StaffAdmin):
    """Saves and deletes of the object and its inlines each leave one audit event."""

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_saved(admin_actor(request), obj, form, created=not change)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        save_inlines(request, formset)

    def delete_model(self, request: HttpRequest, obj) -> None:
        record_deleted(admin_actor(request), obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                record_deleted(admin_actor(request), obj)
            super().delete_queryset(request, queryset)


def save_inlines(request: HttpRequest, formset) -> None:
    actor = admin_actor(request)
    form_of = {id(form.instance): form for form in formset.forms}
    formset.save(commit=False)
    for obj in formset.deleted_objects:
        record_deleted(actor, obj)
        obj.delete()
    for obj in formset.new_objects:
        obj.save()
        record_saved(actor, obj, form_of[id(obj)], created=True)
    for obj, _ in formset.changed_objects:
        obj.save()
        record_saved(actor, obj, form_of[id(obj)], created=False)
    formset.save_m2m()


class TargetInline(StaffInline, admin.StackedInline):
    model = Target
    form = TargetForm
    extra = 0
    show_change_link = True


class AccessInline(StaffInline, admin.TabularInline):
    model = Access
    fields = ("user", "team", "role", "deploy_protected")
    autocomplete_fields = ("user", "team")
    extra = 0


class TeamAccessInline(StaffInline, admin.TabularInline):
    """A team's grants, on the team's page."""

    model = Access
    fk_name = "team"
    fields = ("app", "role", "deploy_protected")
    autocomplete_fields = ("app",)
    extra = 0
    verbose_name = "grant"
    verbose_name_plural = "grants on apps"


@admin.register(App)
class AppAdmin(AuditedAdmin):
    form = AppForm
    list_display = ("slug", "name", "repo_url", "default_branch", "target_count", "created_at")
    search_fields = ("slug", "name", "repo_url")
    list_filter = ("targets__protected", "created_at")
    inlines = [TargetInline, AccessInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_targets=Count("targets", distinct=True))

    @admin.display(description="targets", ordering="_targets")
    def target_count(self, obj: App) -> int:
        return obj._targets


@admin.register(Target)
class TargetAdmin(AuditedAdmin):
    form = TargetForm
    list_display = ("__str__", "name", "push_to", "protected", "require_ci", "live")
    list_filter = ("protected", "require_ci", "app")
    search_fields = ("slug", "name", "app__slug", "app__name", "remote_url", "heroku_app")
    list_select_related = ("app",)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("app",) if obj is not None else ()

    @admin.display(description="pushes to")
    def push_to(self, obj: Target) -> str:
        return obj.push_url

    @admin.display(description="live")
    def live(self, obj: Target) -> str:
        return obj.live_sha[:7]


@admin.register(Access)
class AccessAdmin(AuditedAdmin):
    list_display = ("app", "who", "role", "deploy_protected")
    list_filter = ("role", "deploy_protected", "app", ("team", admin.EmptyFieldListFilter))
    search_fields = ("app__slug", "user__username", "team__name")
    list_select_related = ("app", "user", "team")
    autocomplete_fields = ("app", "user", "team")
    fields = ("app", "user", "team", "role", "deploy_protected")

    @admin.display(description="granted to")
    def who(self, obj: Access) -> str:
        return _who(obj)


class FreezeForm(forms.ModelForm):
    class Meta:
        model = Freeze
        fields = ("app", "starts_at", "ends_at", "reason", "targets")

    def clean(self) -> dict:
        cleaned = super().clean()
        app, slugs = cleaned.get("app"), cleaned.get("targets") or []
        if not isinstance(slugs, list) or not all(isinstance(slug, str) for slug in slugs):
            self.add_error("targets", "A list of target slugs.")
        elif app is not None:
            unknown = sorted(set(slugs) - set(app.targets.values_list("slug", flat=True)))
            if unknown:
                self.add_error("targets", f"{app.slug} has no target '{unknown[0]}'.")
        return cleaned


@admin.register(Freeze)
class FreezeAdmin(StaffAdmin):
    """Freezes are made and deleted, never edited: each of those is one audit event."""

    form = FreezeForm
    list_display = ("__str__", "app", "starts_at", "ends_at", "created_by")
    list_filter = ("app",)
    list_select_related = ("app",)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Freeze, form, change: bool) -> None:
        obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        audit.record(actor=admin_actor(request), action="freeze.created", app=obj.app, detail=f"Created freeze: {obj}.")

    def delete_model(self, request: HttpRequest, obj: Freeze) -> None:
        audit.record(actor=admin_actor(request), action="freeze.deleted", app=obj.app, detail=f"Deleted freeze: {obj}.")
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)
