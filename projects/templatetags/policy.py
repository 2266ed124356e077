"""The lock-like state of deploy policy on pages: "Frozen until ...", "Outside deploy windows: opens ..."."""

from __future__ import annotations

from django import template

from portal import clock
from projects import access, windows
from projects.models import Role, Target

register = template.Library()


@register.inclusion_tag("projects/_policy_state.html", takes_context=True)
def policy_state(context: template.Context, target: Target) -> dict:
    """Why deploying to `target` is closed now, if it is. The freezes are read once per page, not
    once per target (the dashboard shows many)."""
    request = context.get("request")
    memo = getattr(request, "_bartender_policy", None) if request is not None else None
    if memo is None:
        at = clock.now()
        memo = (at, windows.upcoming_freezes(at))
        if request is not None:
            request._bartender_policy = memo
    at, freezes = memo
    return {"closed": windows.closed(target, at=at, freezes=freezes)}


@register.inclusion_tag("projects/_window_override.html", takes_context=True)
def window_override_field(context: template.Context, target: Target) -> dict:
    """On the deploy confirmation: while deploying is closed, an app admin may give a reason to
    deploy anyway (audited as deployment.window_override)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    closed = windows.closed(target)
    show = closed is not None and access.grant_for(user, target.app).at_least(Role.ADMIN)
    return {"closed": closed if show else None}


@register.inclusion_tag("projects/_freezes.html", takes_context=True)
def freezes_of(context: template.Context, target: Target) -> dict:
    """The freezes that hold `target` now or later, soonest first (the target page)."""
    at = clock.now()
    found = [f for f in windows.upcoming_freezes(at, app_ids=[target.app_id]) if windows.freeze_holds(f, target)]
    return {"freezes": found, "target": target}
