"""Two-person approval on the pages: a deployment's approval box, the pending list, the break-glass field.

Tags rather than view context, so each page that shows them gets them with one line; the
deployment page's box is also rendered by the tail every second (which passes `user`).
"""

from __future__ import annotations

from django import template

from deployments import approval
from deployments.models import Deployment, Status
from projects import access
from projects.models import App, Role, Target

register = template.Library()


def _user(context):
    request = context.get("request")
    return context.get("user") or (request.user if request is not None else None)


@register.inclusion_tag("deployments/_approval.html", takes_context=True)
def approval_box(context, deployment: Deployment) -> dict:
    """Who asked, until when, who may approve; Approve and Reject for those who may."""
    shown = {"deployment": deployment, "csrf_token": context.get("csrf_token")}
    if deployment.status != Status.PENDING_APPROVAL and not deployment.approved_by and not deployment.approval_override:
        return shown
    pending = deployment.status == Status.PENDING_APPROVAL
    user = _user(context)
    why_not = approval.refusal(user, deployment) if pending else None
    return {
        **shown,
        "pending": pending,
        "approvers": approval.approvers(deployment) if pending else [],
        "may_decide": pending and why_not is None,
        "why_not": why_not,
        # The requester may withdraw their own request (reject, with a reason), not approve it.
        "may_withdraw": pending and why_not == approval.SELF_APPROVAL,
    }


@register.inclusion_tag("deployments/_approvals.html", takes_context=True)
def pending_approvals(context, app: App | None = None) -> dict:
    """Deployments waiting for a second person, in `app` or in every app the user may see."""
    user = _user(context)
    if user is None:
        rows = []
    elif app is not None and context.get("app") == app and context.get("targets") is not None:
        rows = list(approval.pending_on(context["targets"])[:50])  # the app's page: already allowed
    else:
        rows = list(approval.pending(user, app)[:50])
    return {"pending": rows, "app": app}


@register.inclusion_tag("deployments/_approval_override.html", takes_context=True)
def approval_override(context, target: Target) -> dict:
    """On the confirmation page of a target that needs approval: what happens, and for app admins
    the break-glass field."""
    user = _user(context)
    may_skip = target.require_approval and access.grant_for(user, target.app).at_least(Role.ADMIN)
    return {"target": target, "may_skip": may_skip}
