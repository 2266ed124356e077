"""Appending to the audit trail; nothing here (or anywhere) edits or deletes an event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployments.models import AuditEvent
from portal.actor import Actor

if TYPE_CHECKING:
    from deployments.models import Deployment
    from projects.models import App, Target


def record(
    *,
    actor: Actor,
    action: str,
    detail: str,
    app: App | None = None,
    target: Target | None = None,
    deployment: Deployment | None = None,
) -> AuditEvent:
    if deployment is not None:
        target = target or deployment.target
    if target is not None:
        app = app or target.app
    return AuditEvent.objects.create(
        actor=actor.name,
        action=action,
        source=actor.source,
        ip=actor.ip,
        app=app.slug if app else "",
        target=target.slug if target else "",
        deployment=deployment.pk if deployment else None,
        detail=detail[:500],
    )
