"""Two-person approval: approving, rejecting and expiring deployments that wait for a second person.

A deployment to a target with `require_approval` is created `pending_approval` (services.py,
deployment_queue) and queues nothing. Another user who could deploy to that target approves it
(it is queued then) or rejects it; nobody approves in time and the reaper cancels it. Whoever
vouches for a gate must not be whoever it gates: the requester, `system` and CI tokens never
approve, and the approver must still be able to deploy when the deployment starts.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deployments import queue
from deployments.models import Deployment, Status
from portal import clock
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest, Conflict
from projects import access
from projects.models import App, Role, Target

log = logging.getLogger("bartender.approval")

SELF_APPROVAL = "you cannot approve your own deployment"
EXPIRED = "approval expired"
APPROVERS_SHOWN = 20


def _is_requester(actor: Actor, deployment: Deployment) -> bool:
    user = actor.user
    if user is None or not user.is_authenticated:
        return False
    if deployment.requested_by_id is not None:
        return deployment.requested_by_id == user.pk
    return deployment.requested_by_name == actor.name


def _refuse(actor: Actor, deployment: Deployment, what: str, why: str) -> None:
    """A 403 whose detail is `why` as the contract words it, audited as `denied`."""
    audit.record(
        actor=actor, action="denied", deployment=deployment, detail=f"Refused to {what} #{deployment.pk}: {why}."
    )
    raise PermissionDenied(why)


def _require_person(actor: Actor, deployment: Deployment, what: str) -> None:
    """A person, never `system`. (A CI token never gets this far: the API refuses it for anything
    but posting statuses, portal/apiauth.py.)"""
    user = actor.user
    if user is None or not user.is_authenticated:
        _refuse(actor, deployment, what, "only a person may do this, not the system")


def approve(*, actor: Actor, deployment: Deployment) -> Deployment:
    """Queue a pending deployment on behalf of a second person who could deploy it themselves."""
    access.require(actor, deployment.app, Role.DEPLOYER, target=deployment.target, action="approve deployments")
    _require_person(actor, deployment, "approve")
    if _is_requester(actor, deployment):
        _refuse(actor, deployment, "approve", SELF_APPROVAL)
    now = clock.now()
    with transaction.atomic():
        approved = (
            Deployment.objects.filter(pk=deployment.pk, status=Status.PENDING_APPROVAL)
            .filter(Q(approval_expires_at__isnull=True) | Q(approval_expires_at__gt=now))
            .update(status=Status.QUEUED, approved_by=actor.name, approved_at=timezone.now())
        )
        if approved:
            audit.record(
                actor=actor,
                action="deployment.approved",
                deployment=deployment,
                detail=f"Approved {deployment.short_sha} ({deployment.ref}) to {deployment.target.slug}, "
                f"requested by {deployment.requested_by_name}.",
            )
            transaction.on_commit(lambda: queue.run_deployment(deployment.pk))
    if not approved:
        _not_pending(deployment, "approved")
    deployment.refresh_from_db()
    return deployment


def reject(*, actor: Actor, deployment: Deployment, reason: str) -> Deployment:
    """Cancel a pending deployment with the reason given (the requester may withdraw their own)."""
    access.require(actor, deployment.app, Role.DEPLOYER, target=deployment.target, action="reject deployments")
    _require_person(actor, deployment, "reject")
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("reason: say why the deployment is rejected.")
    with transaction.atomic():
        rejected = Deployment.objects.filter(pk=deployment.pk, status=Status.PENDING_APPROVAL).update(
            status=Status.CANCELLED,
            finished_at=timezone.now(),
            reason=reason[:500],
            cancelled_by=actor.name,
            cancelled_source=actor.source,
            cancelled_ip=actor.ip,
        )
        if rejected:
            audit.record(
                actor=actor,
                action="deployment.rejected",
                deployment=deployment,
                detail=f"Rejected {deployment.short_sha} to {deployment.target.slug}: {reason}",
            )
            queue.report_to_github_on_commit(deployment)
    if not rejected:
        _not_pending(deployment, "rejected")
    deployment.refresh_from_db()
    return deployment


def _not_pending(deployment: Deployment, verb: str) -> None:
    row = Deployment.objects.filter(pk=deployment.pk).values("status", "approval_expires_at").first() or {}
    status = row.get("status", "gone")
    if status == Status.PENDING_APPROVAL:  # its time ran out: cancel it now rather than at the next sweep
        expire_approvals()
        raise Conflict(f"Deployment #{deployment.pk} can no longer be {verb}: its approval expired.")
    raise Conflict(f"Deployment #{deployment.pk} is not waiting for approval: it is {status}.")


def expire_approvals(*, now: datetime | None = None) -> int:
    """Cancel every pending deployment whose approval deadline (by portal.clock) has passed."""
    now = now or clock.now()
    expired = 0
    due = Deployment.objects.filter(status=Status.PENDING_APPROVAL, approval_expires_at__lte=now)
    for deployment in due.select_related("app", "target"):
        with transaction.atomic():
            if not Deployment.objects.filter(pk=deployment.pk, status=Status.PENDING_APPROVAL).update(
                status=Status.CANCELLED, finished_at=timezone.now(), reason=EXPIRED
            ):
                continue
            minutes = deployment.target.approval_minutes
            audit.record(
                actor=Actor.system(),
                action="deployment.cancelled",
                deployment=deployment,
                detail=f"{deployment.short_sha} to {deployment.target.slug}: {EXPIRED} "
                f"(nobody approved it within {minutes} minute{'s' if minutes != 1 else ''}).",
            )
            queue.report_to_github_on_commit(deployment)
        expired += 1
    if expired:
        log.info("cancelled %s deployment(s) whose approval expired", expired)
    return expired


# Who may approve ----------------------------------------------------------------------------


def refusal(user, deployment: Deployment) -> str | None:
    """Why `user` may not approve `deployment` now (None: they may); no audit, for pages."""
    if deployment.status != Status.PENDING_APPROVAL:
        return "it is not waiting for approval"
    if user is None or not user.is_authenticated:
        return "only a person may approve"
    if _is_requester(Actor(user=user, source="web"), deployment):
        return SELF_APPROVAL
    target = deployment.target
    grant = access.grant_for(user, deployment.app)
    if not grant.at_least(Role.DEPLOYER):
        return "only users with the deployer role on this app approve"
    if not grant.may_deploy(target):
        return f"{target.name} is protected: only app admins or users granted deploy_protected approve there"
    return None


def approvers(deployment: Deployment) -> list[str]:
    """The names of the people who could approve `deployment`: app members who could deploy to its
    target, then staff; never the requester."""
    app, target = deployment.app, deployment.target
    candidates = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(access__app=app) | Q(groups__access__app=app) | Q(is_staff=True))
        .distinct()
        .order_by("-is_staff", "username")
    )
    names: list[str] = []
    members: list[str] = []
    for user in candidates[:200]:
        if user.pk == deployment.requested_by_id or not access.grant_for(user, app).may_deploy(target):
            continue
        (names if user.is_staff else members).append(user.get_username())
    return (members + names)[:APPROVERS_SHOWN]


def pending(user, app: App | None = None) -> QuerySet[Deployment]:
    """Deployments waiting for approval in the apps `user` may see (or in `app`), oldest first."""
    found = Deployment.objects.filter(status=Status.PENDING_APPROVAL)
    if app is not None and access.grant_for(user, app).at_least(Role.VIEWER):
        return pending_on(list(app.targets.all()))
    else:
        found = found.filter(app__in=access.visible_apps(user))
        if app is not None:
            found = found.filter(app=app)
    return found.select_related("app", "target").order_by("id")


def pending_on(targets: list[Target]) -> QuerySet[Deployment]:
    """Deployments waiting for approval on `targets`, which the caller has shown the user, oldest
    first. By target ids: the (target, status, id) index reaches the few pending rows directly,
    where the app's column would walk its whole history."""
    found = Deployment.objects.filter(status=Status.PENDING_APPROVAL, target_id__in=[t.pk for t in targets])
    return found.select_related("app", "target").order_by("id")


def notice(deployment: Deployment, event: str) -> str:
    """The sentence a notification adds for an approval event: until when, and who may approve;
    or who skipped the approval and why."""
    if event == "deployment.approval_override":
        return f"{deployment.requested_by_name} skipped the approval: {deployment.approval_override}"
    said = ""
    if deployment.approval_expires_at:
        said = f"Approve or reject it by {deployment.approval_expires_at:%Y-%m-%d %H:%M} UTC."
    names = approvers(deployment)
    if names:
        said += f" Who may approve: {', '.join(names)}."
    return said.strip()


# At start -----------------------------------------------------------------------------------


def start_problem(deployment: Deployment) -> str | None:
    """Why an approval no longer counts when the deployment starts (None: it does, or none was given).

    Access changes between the approval and the start: an approver who lost the right to deploy
    to the target since no longer vouches for it.
    """
    name = deployment.approved_by
    if not name:
        return None
    user = get_user_model().objects.filter(username=name).first()
    if user is None or not user.is_active:
        why = f"{name} is no longer an active user"
    elif deployment.requested_by_id is not None and user.pk == deployment.requested_by_id:
        why = f"{name} requested it"
    elif not access.grant_for(user, deployment.app).may_deploy(deployment.target):
        role = access.grant_for(user, deployment.app).role or "no member"
        why = f"{name} may no longer deploy to {deployment.target.name} ({role} on this app)"
    else:
        return None
    return f"approval by {name} no longer counts: {why}; request the deployment again."
