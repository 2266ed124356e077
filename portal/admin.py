"""The admin site's wiring: users, teams and API tokens (apps, targets and access: projects/admin.py).

Staff act as admin on every app (CONTRACT.md), so staff may use every admin page here without
per-model Django permissions; what only a superuser may do stays with superusers.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest
from django_q import admin as django_q_admin  # noqa: F401 - registers django-q's models, undone below
from django_q import models as django_q_models

from portal.accounts import services as accounts
from portal.adminkit import StaffAdmin, StaffInline, admin_actor
from portal.audit import events as audit
from portal.models import ApiToken
from projects.admin import TeamAccessInline, record_team_deleted, record_team_members, save_inlines
from projects.models import Access

User = get_user_model()

admin.site.site_header = admin.site.site_title = "Bartender administration"
admin.site.index_title = "Apps, targets, teams and people"

# Teams are Django groups; people meet them as teams. A name in the model's options, not a proxy
# model: no migration, the same admin URLs, and migrations read the Meta as declared.
Group._meta.verbose_name, Group._meta.verbose_name_plural = "team", "teams"

# django-q's own tables (its queue, schedules, task results) are the worker's business, not a
# deploy portal's: they leave the admin's main list (its admin module, imported above, registers them).
for _model in (django_q_models.Schedule, django_q_models.Success, django_q_models.Failure, django_q_models.OrmQ):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(ApiToken)
class ApiTokenAdmin(StaffAdmin):
    list_display = ("name", "user", "ci_app", "created_at", "expires_at", "last_used_at")
    list_filter = (("ci_app", admin.EmptyFieldListFilter), "created_at", "expires_at", "last_used_at")
    search_fields = ("name", "user__username", "ci_app__slug")
    list_select_related = ("user", "ci_app")
    readonly_fields = ("name", "user", "ci_app", "created_at", "expires_at", "last_used_at")
    exclude = ("token_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False  # a token is shown once to its owner: the profile page or `manage.py apitoken`

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        found = super().get_actions(request)
        found.pop("delete_selected", None)
        return found

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset) -> None:
        self.delete_queryset(request, queryset)
        messages.info(request, "Revoked.")

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        accounts.token_revoke(actor=admin_actor(request), token_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for pk in list(queryset.values_list("pk", flat=True)):
            accounts.token_revoke(actor=admin_actor(request), token_id=pk)


class TokenInline(StaffInline, admin.TabularInline):
    model = ApiToken
    fk_name = "user"
    fields = readonly_fields = ("name", "ci_app", "created_at", "expires_at", "last_used_at")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _revoke_everything_of(request: HttpRequest, user) -> None:
    """Deleting a user takes their grants and tokens with them: each loss is audited."""

    actor = admin_actor(request)
    for grant in Access.objects.filter(user=user).select_related("app"):
        audit.record(
            actor=actor,
            action="access.revoked",
            app=grant.app,
            detail=f"Revoked {user.username}'s access (user deleted).",
        )
    for token in ApiToken.objects.filter(user=user).select_related("ci_app"):
        audit.record(
            actor=actor,
            action="token.revoked",
            app=token.ci_app,
            detail=f"Revoked API token '{token.name}' of {user.username} (user deleted).",
        )


admin.site.unregister(User)

USER_POWERS = ("is_active", "is_staff", "is_superuser")


@admin.register(User)
class BartenderUserAdmin(StaffAdmin, UserAdmin):
    """Staff add users and reset their passwords; only superusers touch superuser powers."""

    list_display = ("username", "email", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    inlines = [TokenInline]

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "groups":
            kwargs["label"] = "Teams"  # the field keeps its name; people know them as teams
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_change_permission(request, obj) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            audit.record(actor=admin_actor(request), action="user.created", detail=f"Created user {obj.username}.")
            return
        # Staff act as admin on every app and an inactive user may do nothing: access changes.
        powers = [name for name in USER_POWERS if name in form.changed_data]
        if powers:
            parts = "; ".join(f"{name}: {form.initial.get(name)} → {form.cleaned_data.get(name)}" for name in powers)
            audit.record(
                actor=admin_actor(request), action="access.changed", detail=f"Changed {obj.username}: {parts}."
            )

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Teams joined or left here change the user's role on every app those teams hold a grant on."""

        user = form.instance
        before = set(user.groups.all())
        super().save_related(request, form, formsets, change)
        after = set(user.groups.all())
        actor = admin_actor(request)
        for team in sorted(after - before, key=lambda group: group.name):
            record_team_members(actor, team, added=[user.username], removed=[])
        for team in sorted(before - after, key=lambda group: group.name):
            record_team_members(actor, team, added=[], removed=[user.username])

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = ""):
        """Django's password page; a password set (or disabled) there is audited, never its value."""
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            before = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if user is not None:
                user.refresh_from_db(fields=["password"])
            if request.method == "POST" and user is not None and user.password != before:
                if user.has_usable_password():
                    detail = f"Password of {user.username} reset by an admin."
                else:
                    detail = f"Password login of {user.username} disabled by an admin."
                audit.record(actor=admin_actor(request), action="access.changed", detail=detail)
        return response

    def delete_model(self, request: HttpRequest, obj) -> None:
        _revoke_everything_of(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for user in queryset:
                _revoke_everything_of(request, user)
            super().delete_queryset(request, queryset)


class TeamForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        widget=admin.widgets.FilteredSelectMultiple("members", is_stacked=False),
    )

    class Meta:
        model = Group
        fields = ("name", "members")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["members"].initial = self.instance.user_set.all()


admin.site.unregister(Group)


@admin.register(Group)
class TeamAdmin(StaffAdmin, GroupAdmin):
    """Teams are Django groups: members here, their roles per app in the grants below."""

    form = TeamForm
    list_display = ("name", "member_count")
    search_fields = ("name",)
    filter_horizontal = ()

    def get_inlines(self, request: HttpRequest, obj):

        return [TeamAccessInline]

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:

        save_inlines(request, formset)  # each grant added, changed or deleted: one audit event

    @admin.display(description="members")
    def member_count(self, obj: Group) -> int:
        return obj.user_set.count()

    def save_model(self, request: HttpRequest, obj: Group, form: TeamForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "members" not in form.changed_data:
            return
        before = set(obj.user_set.values_list("username", flat=True))
        obj.user_set.set(form.cleaned_data["members"])
        after = set(obj.user_set.values_list("username", flat=True))

        record_team_members(admin_actor(request), obj, added=sorted(after - before), removed=sorted(before - after))

    def delete_model(self, request: HttpRequest, obj: Group) -> None:

        record_team_deleted(admin_actor(request), obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:

        with transaction.atomic():
            for team in queryset:
                record_team_deleted(admin_actor(request), team)
            super().delete_queryset(request, queryset)
