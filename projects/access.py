"""The one place that decides what a user may do with an app.

Every page, form and API endpoint goes through `require`: an app the user may not see is a
404 (its existence is not revealed), an action above the user's role is a 403, audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from portal.actor import Actor
from projects.models import ROLE_RANK, Access, App, Role, Target


@dataclass(frozen=True)
class Grant:
    role: str | None
    deploy_protected: bool = False

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def may_deploy(self, target: Target) -> bool:
        if not self.at_least(Role.DEPLOYER):
            return False
        return not target.protected or self.at_least(Role.ADMIN) or self.deploy_protected

    def why_not_deploy(self, target: Target) -> str | None:
        if not self.at_least(Role.DEPLOYER):
            return "You need the deployer role on this app to deploy."
        if not self.may_deploy(target):
            return f"{target.name} is protected: only app admins or granted users may deploy there."
        return None


NO_GRANT = Grant(role=None)
STAFF_GRANT = Grant(role=Role.ADMIN, deploy_protected=True)


def _grants(user) -> QuerySet[Access]:
    return Access.objects.filter(Q(user=user) | Q(team__in=user.groups.all()))


def grant_for(user, app: App) -> Grant:
    """The highest of the user's own grant and their teams' grants on `app`."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_GRANT
    if user.is_staff:
        return STAFF_GRANT
    grants = list(_grants(user).filter(app=app))
    if not grants:
        return NO_GRANT
    best = max(grants, key=lambda access: ROLE_RANK[access.role])
    return Grant(role=best.role, deploy_protected=any(a.deploy_protected for a in grants))


def grants_for(user, apps: list[App]) -> dict[int, Grant]:
    """`grant_for` of each app, in one query (the dashboard lists many apps)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return {app.pk: NO_GRANT for app in apps}
    if user.is_staff:
        return {app.pk: STAFF_GRANT for app in apps}
    found: dict[int, list[Access]] = {app.pk: [] for app in apps}
    for grant in _grants(user).filter(app__in=apps):
        found[grant.app_id].append(grant)
    return {
        pk: Grant(
            role=max(grants, key=lambda access: ROLE_RANK[access.role]).role,
            deploy_protected=any(a.deploy_protected for a in grants),
        )
        if grants
        else NO_GRANT
        for pk, grants in found.items()
    }


def visible_apps(user) -> QuerySet[App]:
    if user is None or not user.is_authenticated or not user.is_active:
        return App.objects.none()
    if user.is_staff:
        return App.objects.all()
    return App.objects.filter(pk__in=_grants(user).values("app_id"))


def require(
    actor: Actor, app: App, role: str = Role.VIEWER, *, target: Target | None = None, action: str = ""
) -> Grant:
    """The actor's grant on `app`, or Http404 (cannot see it) / PermissionDenied (audited)."""
    grant = grant_for(actor.user, app)
    if not grant.at_least(Role.VIEWER):
        raise Http404("No such app.")
    allowed = grant.at_least(role)
    why = f"You need the {role} role on this app to {action or 'do this'}."
    if allowed and target is not None and target.protected and role == Role.DEPLOYER:
        allowed = grant.at_least(Role.ADMIN) or grant.deploy_protected
        why = (
            f"{target.name} is protected: only app admins or users granted deploy_protected "
            f"may {action or 'do this'} there."
        )
    if not allowed:
        from portal.audit import events as audit

        audit.record(
            actor=actor,
            action="denied",
            app=app,
            target=target,
            detail=f"Refused to {action or 'act'}: {actor.name} is {grant.role or 'no member'}.",
        )
        raise PermissionDenied(why)
    return grant


def app_for(actor: Actor, slug: str, role: str = Role.VIEWER, *, action: str = "") -> App:
    app = App.objects.filter(slug=slug).first()
    if app is None:
        raise Http404("No such app.")
    require(actor, app, role, action=action)
    return app


def target_for(actor: Actor, app: str, slug: str) -> Target:
    """A target of an app the actor may see (Http404 otherwise, as for the app itself)."""
    target = app_for(actor, app).targets.filter(slug=slug).first()
    if target is None:
        raise Http404("No such target.")
    return target


def audit_apps(user) -> list[str] | None:
    """The app slugs whose audit `user` may read: None means all of it (staff), [] none."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if user.is_staff:
        return None
    return sorted(set(_grants(user).filter(role=Role.ADMIN).values_list("app__slug", flat=True)))


def audit_scope(actor: Actor, app_slug: str = "") -> list[str] | None:
    """What audit_apps allows, checked: the app slugs to show, None for all of it (staff).

    Staff read everything, also the history of deleted apps. Anyone else reads the apps they
    administer: a named app they cannot see is a 404, one they only use is a 403 (audited), and
    with no app named, not administering any app is a 403 (audited).
    """
    allowed = audit_apps(actor.user)
    if allowed is None:
        return [app_slug] if app_slug else None
    if app_slug:
        app_for(actor, app_slug, Role.ADMIN, action="read the audit")
        return [app_slug]
    if not allowed:
        from portal.audit import events as audit

        audit.record(
            actor=actor, action="denied", detail=f"Refused to read the audit: {actor.name} administers no app."
        )
        raise PermissionDenied("Only staff and app admins may read the audit.")
    return allowed


def admin_names(app: App) -> list[str]:
    """Who a user told to "ask an admin" can ask: the app's admins by name, direct or through a
    team (staff act as admin everywhere but are not listed: they are not the app's people)."""
    grants = Access.objects.filter(app=app, role=Role.ADMIN)
    direct = grants.filter(user__is_active=True, user__isnull=False).values_list("user__username", flat=True)
    via_team = grants.filter(team__isnull=False, team__user__is_active=True).values_list(
        "team__user__username", flat=True
    )
    return sorted({name for name in [*direct, *via_team] if name})
