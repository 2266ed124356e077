"""Requesting and cancelling deployments. Callers: web views, the API, auto-deploy, workers."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import gates, kinds, queue
from deployments.models import Deployment, Kind, Status
from portal import clock
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest, Conflict, Unavailable
from projects import access, mirror
from projects.git import GitError
from projects.mirror import RefError
from projects.models import Role, Target

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def resolve_ref(target: Target, ref: str) -> str:
    """The full sha of `ref` in the app's mirror.

    Branches and tags move, so they are read after a fetch (a CI job that pushed and then asks
    for `main` gets what it pushed); a full sha the mirror already holds needs no fetch.
    """
    app = target.app
    try:
        if not mirror.has_commit(app, ref.lower()):
            mirror.sync(app)
        return mirror.resolve(app, ref)
    except RefError as error:
        raise BadRequest(str(error)) from None
    except GitError as error:
        raise Unavailable(f"The repository could not be fetched: {error}") from None


def deployment_request(
    *,
    actor: Actor,
    target: Target,
    ref: str,
    note: str = "",
    idempotency_key: str = "",
    ci_override_reason: str = "",
    approval_override_reason: str = "",
    lock_after: str = "",
    window_override_reason: str = "",
) -> Deployment:
    """`lock_after`: a reason to lock the target with once this deployment starts (the rollback
    confirmation's "lock the target afterwards"); empty: no lock."""
    app = target.app
    access.require(actor, app, Role.DEPLOYER, target=target, action="deploy")
    approval_override = _approval_override(actor, target, approval_override_reason)
    if idempotency_key:
        earlier = _idempotent_answer(actor, idempotency_key)
        if earlier is not None and earlier.target_id != target.pk:
            raise Conflict(
                f"The Idempotency-Key '{idempotency_key[:60]}' was used for a deployment to another target; "
                "use a new key for a new request."
            )
        if earlier is not None:
            return earlier
    sha, override = gates.admit(
        actor=actor, target=target, resolve=lambda: resolve_ref(target, ref), ci_override_reason=ci_override_reason
    )
    window_override = gates.window_gate(actor=actor, target=target, sha=sha, override_reason=window_override_reason)
    try:
        return deployment_queue(
            actor=actor,
            target=target,
            sha=sha,
            ref=ref,
            note=note,
            idempotency_key=idempotency_key,
            ci_override=override,
            lock_after=lock_after.strip(),
            pending_approval=target.require_approval and not approval_override,
            approval_override=approval_override,
            window_override=window_override,
        )
    except IntegrityError:
        # A simultaneous first attempt with the same key won the insert: answer its deployment.
        earlier = _idempotent_answer(actor, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return earlier


def _approval_override(actor: Actor, target: Target, reason: str) -> str:
    """The break-glass reason when an app admin skips a target's approval ("" when none applies);
    anyone else who tries is refused (403, audited)."""
    reason = (reason or "").strip()
    if not reason or not target.require_approval:
        return ""
    access.require(actor, target.app, Role.ADMIN, target=target, action="skip the approval")
    return reason[:500]


def _idempotent_answer(actor: Actor, key: str) -> Deployment | None:
    """The caller's deployment for this Idempotency-Key within the window; older keys are freed."""
    window_start = timezone.now() - IDEMPOTENCY_WINDOW
    mine = Deployment.objects.filter(requested_by=actor.user, idempotency_key=key[:200])
    mine.filter(created_at__lt=window_start).update(idempotency_key="")
    return mine.filter(created_at__gte=window_start).first()


def deployment_queue(
    *,
    actor: Actor,
    target: Target,
    sha: str,
    ref: str,
    note: str = "",
    idempotency_key: str = "",
    ci_override: str = "",
    automatic: bool = False,
    kind: str = "",
    rollback_of: Deployment | None = None,
    lock_after: str = "",
    pending_approval: bool = False,
    approval_override: str = "",
    window_override: str = "",
) -> Deployment:
    """Create a queued deployment of a resolved sha, audit it, enqueue it after the commit.

    Access, lock and CI gate are the caller's checks (gates.admit for requests and release
    rollbacks; auto-deploy reads the gate itself). With `pending_approval` it waits for a second
    person instead (deployments/approval.py) until the target's approval_minutes have passed.
    """
    if kind:
        back = 0
    else:
        kind, back = kinds.kind_of(target.app, target.live_sha, sha)  # a forecast, settled at start
    with transaction.atomic():
        deployment = Deployment.objects.create(
            app=target.app,
            target=target,
            sha=sha,
            ref=ref,
            kind=kind,
            requested_by=actor.user if actor.user and actor.user.is_authenticated else None,
            requested_by_name=actor.name,
            note=note[:500],
            commits_back=back,
            idempotency_key=idempotency_key[:200],
            ci_override=ci_override,
            automatic=automatic,
            rollback_of=rollback_of,
            lock_after=lock_after[:500],
            status=Status.PENDING_APPROVAL if pending_approval else Status.QUEUED,
            approval_expires_at=clock.now() + timedelta(minutes=target.approval_minutes) if pending_approval else None,
            approval_override=approval_override,
            window_override=window_override,
        )
        detail = f"{kind} of {sha[:7]} ({ref}) to {target.slug}"
        if kind == Kind.ROLLBACK:
            detail += f": rollback, {back} commit{'s' if back != 1 else ''} back from {target.live_sha[:7]}"
        if Deployment.objects.filter(target=target, status__in=(Status.QUEUED, Status.RUNNING)).exclude(
            pk=deployment.pk
        ).exists():
            detail += " (forecast: deployments ahead of it may change what is live)"
        if pending_approval:
            detail += f"; waits for approval until {deployment.approval_expires_at:%Y-%m-%d %H:%M} UTC"
        audit.record(actor=actor, action="deployment.requested", deployment=deployment, detail=detail)
        overrides = (
            ("deployment.ci_override", "CI gate overridden", ci_override),
            ("deployment.window_override", "Deployed while deploying is closed", window_override),
            ("deployment.approval_override", "Approval skipped", approval_override),
        )
        for action, said, reason in overrides:
            if reason:
                audit.record(actor=actor, action=action, deployment=deployment, detail=f"{said}: {reason}")
        if approval_override:
            transaction.on_commit(lambda: queue.notify_approval(deployment.pk, "deployment.approval_override"))
        if pending_approval:
            transaction.on_commit(lambda: queue.notify_approval(deployment.pk, "deployment.approval_requested"))
        else:
            transaction.on_commit(lambda: queue.run_deployment(deployment.pk))
        queue.report_to_github_on_commit(deployment)  # GitHub hears of it before it starts
    return deployment


def rollback_distance(target: Target, sha: str) -> int:
    """How many commits deploying `sha` takes `target` back (0: not a rollback)."""
    kind, back = kinds.kind_of(target.app, target.live_sha, sha)
    return back if kind == Kind.ROLLBACK else 0


def deployment_cancel(*, actor: Actor, deployment: Deployment) -> Deployment:
    access.require(actor, deployment.app, Role.DEPLOYER, target=deployment.target, action="cancel")
    now = timezone.now()
    reason = f"Cancelled by {actor.name}."
    by = {"cancelled_by": actor.name, "cancelled_source": actor.source, "cancelled_ip": actor.ip}
    running = Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING).exclude(kind=Kind.RELEASE_ROLLBACK)
    waiting = (Status.QUEUED, Status.PENDING_APPROVAL)
    if Deployment.objects.filter(pk=deployment.pk, status__in=waiting).update(
        status=Status.CANCELLED, finished_at=now, reason=reason, **by
    ):
        audit.record(actor=actor, action="deployment.cancelled", deployment=deployment, detail=reason)
        queue.report_to_github_on_commit(deployment)
    elif not (
        # The first person to ask is the one the worker audits; asking again changes nothing.
        running.filter(cancel_requested=False).update(cancel_requested=True, reason=reason, **by)
        or running.filter(cancel_requested=True).exists()
    ):
        # A release rollback is one Platform API call that nothing reads a cancel during.
        if Deployment.objects.filter(pk=deployment.pk, status=Status.RUNNING, kind=Kind.RELEASE_ROLLBACK).exists():
            raise Conflict("A Heroku release rollback cannot be stopped once it has started.")
        raise Conflict(f"Deployment #{deployment.pk} has already finished.")
    # The running worker notices cancel_requested within a second (between git calls while it
    # fetches), ends git and audits the cancel as this actor (engine/finish.py).
    deployment.refresh_from_db()
    return deployment
