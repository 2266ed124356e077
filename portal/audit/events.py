"""Appending to the audit trail; nothing here (or anywhere) edits or deletes an event.

Every layer records events, so this module knows no app, target or deployment model: it reads
the few attributes it stores (`slug`, `pk`, and the parents a target or deployment points to).
"""

from __future__ import annotations

from typing import Any

from portal.actor import Actor
from portal.audit.models import AuditEvent


def record(
    *,
    actor: Actor,
    action: str,
    detail: str,
    app: Any = None,
    target: Any = None,
    deployment: Any = None,
) -> AuditEvent:
    """Append one event. `app`, `target`, `deployment`: an App, Target or Deployment, or None."""
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
