"""Creating, listing and deleting freezes: an app's (its admins) or every app's (staff).

Whether a freeze holds a target at some instant is projects/windows.py's question.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404

from portal import clock
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest
from projects import access
from projects.models import App, Freeze, Role

SLUG = re.compile(r"\A[-a-zA-Z0-9_]{1,60}\Z")


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _is_staff(actor: Actor) -> bool:
    return bool(actor.user and actor.user.is_authenticated and actor.user.is_active and actor.user.is_staff)


def _require_staff(actor: Actor, action: str, app: App | None = None) -> None:
    if not _is_staff(actor):
        audit.record(actor=actor, action="denied", app=app, detail=f"Refused to {action}: staff only.")
        raise PermissionDenied(f"Only staff may {action}.")


def _clean_targets(app: App | None, targets: list[str] | None) -> list[str]:
    slugs = []
    for slug in targets or []:
        if not isinstance(slug, str) or not slug.strip():
            raise BadRequest("targets: a list of target slugs.")
        slugs.append(slug.strip())
    if app is not None:
        known = set(app.targets.values_list("slug", flat=True))
        unknown = [slug for slug in slugs if slug not in known]
        if unknown:
            raise BadRequest(f"targets: {app.slug} has no target '{unknown[0][:60]}'.")
    else:
        for slug in slugs:
            if not SLUG.match(slug):
                raise BadRequest(f"targets: '{slug[:60]}' is not a target slug.")
    return sorted(set(slugs))


def freeze_create(
    *,
    actor: Actor,
    app: App | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    targets: list[str] | None = None,
) -> Freeze:
    """Freeze `app` (None: every app, staff only) from `starts_at` to `ends_at`; audited."""
    if app is None:
        _require_staff(actor, "freeze every app")
    else:
        access.require(actor, app, Role.ADMIN, action="freeze the app")
    starts_at, ends_at = _aware(starts_at), _aware(ends_at)
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("reason: is required; say why nothing may ship.")
    if len(reason) > 500:
        raise BadRequest("reason: at most 500 characters.")
    if ends_at <= starts_at:
        raise BadRequest("ends_at: must be after starts_at.")
    if ends_at <= clock.now():
        raise BadRequest("ends_at: is in the past; a freeze that is over holds nothing.")
    slugs = _clean_targets(app, targets)
    with transaction.atomic():
        freeze = Freeze.objects.create(
            app=app, starts_at=starts_at, ends_at=ends_at, reason=reason, targets=slugs, created_by=actor.name
        )
        audit.record(
            actor=actor, action="freeze.created", app=app, detail=f"Created freeze #{freeze.pk}: {_words(freeze)}"
        )
    return freeze


def _words(freeze: Freeze) -> str:
    where = freeze.app.slug if freeze.app_id else "every app"
    if freeze.targets:
        where += f" ({', '.join(freeze.targets)})"
    return (
        f"{where} from {freeze.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} to "
        f"{freeze.ends_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {freeze.reason}"
    )


def freeze_list(*, actor: Actor, app: App | None) -> list[Freeze]:
    """An app's freezes and every app's (its viewers see them), or with no app every freeze (staff);
    those not over yet, soonest first."""
    if app is None:
        _require_staff(actor, "list every freeze")
        freezes = Freeze.objects.all()
    else:
        access.require(actor, app, Role.VIEWER)
        freezes = Freeze.objects.filter(Q(app=app) | Q(app__isnull=True))
    return list(freezes.filter(ends_at__gt=clock.now()).select_related("app").order_by("starts_at", "id"))


def freeze_delete(*, actor: Actor, freeze_id: int, app: App | None) -> None:
    """Delete a freeze: through its app (app admin; a freeze of every app needs staff) or, with
    no app, any freeze (staff); audited."""
    if app is None:
        _require_staff(actor, "delete freezes")
        freeze = Freeze.objects.select_related("app").filter(pk=freeze_id).first()
    else:
        access.require(actor, app, Role.ADMIN, action="delete freezes")
        freeze = Freeze.objects.select_related("app").filter(Q(app=app) | Q(app__isnull=True), pk=freeze_id).first()
    if freeze is None:
        raise Http404("No such freeze.")
    if freeze.app_id is None:
        _require_staff(actor, "delete a freeze of every app", app=app)
    with transaction.atomic():
        if Freeze.objects.filter(pk=freeze.pk).delete()[0]:
            audit.record(
                actor=actor,
                action="freeze.deleted",
                app=freeze.app,
                detail=f"Deleted freeze #{freeze_id}: {_words(freeze)}",
            )
