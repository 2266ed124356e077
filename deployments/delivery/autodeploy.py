"""Auto-deploy: a target that follows a branch gets its new green head queued by `system`.

Runs after every mirror refresh (GitHub push webhook, the minute schedule) and after every CI
status (a head that turns green). Safe to run at once in several workers: the target's
`auto_deploy_head` moves with a conditional update, and the database allows one queued
automatic deployment per target.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import services, window_holds
from deployments.models import Deployment, Status
from portal.actor import Actor
from portal.audit import events as audit
from projects import ci, mirror, windows
from projects.git import GitError
from projects.locks import active_lock
from projects.mirror import RefError
from projects.models import App, Target

log = logging.getLogger("bartender.autodeploy")
SKIP_MARKER = "[deploy skip]"


@dataclass(frozen=True)
class Outcome:
    target: str
    action: str  # queued, skipped, waiting
    why: str = ""
    deployment: Deployment | None = None


def check_app(app: App) -> list[Outcome]:
    """Consider every auto-deploying target of `app` against its mirror as it is now."""
    return [consider(target=target) for target in app.targets.exclude(auto_deploy_branch="").select_related("app")]


def consider(*, target: Target) -> Outcome:
    app, branch = target.app, target.auto_deploy_branch
    try:
        head = mirror.resolve(app, branch) if mirror.exists(app) and branch in mirror.branches(app) else ""
    except (RefError, GitError):
        head = ""
    if not head:
        return Outcome(target.slug, "waiting", f"the branch {branch} is not in the mirror")
    if head == target.auto_deploy_head:
        return Outcome(target.slug, "skipped", "this head was handled already")
    if active_lock(target) is not None:
        return Outcome(target.slug, "waiting", "the target is locked")  # tried again once unlocked
    if head == target.live_sha:
        _mark(target, head)
        return Outcome(target.slug, "skipped", "the head is already live")
    commit = mirror.commit(app, head)
    if commit is not None and SKIP_MARKER in commit.message.lower():
        _mark(target, head)
        return Outcome(target.slug, "skipped", f"the head says {SKIP_MARKER}")
    problem = ci.gate_problem(target, head)
    if problem:
        return Outcome(target.slug, "waiting", problem)  # a later green status tries again
    closed = windows.closed(target)
    if closed is not None:
        # Nothing queued while closed: when deploying opens, the newest green head goes (engine/opening.py).
        window_holds.hold_auto(target.pk)
        return Outcome(target.slug, "waiting", closed.short)
    return _queue(target, head)


def _mark(target: Target, head: str) -> bool:
    return bool(
        Target.objects.filter(pk=target.pk, auto_deploy_head=target.auto_deploy_head).update(auto_deploy_head=head)
    )


def _queue(target: Target, head: str) -> Outcome:
    system = Actor.system()
    try:
        with transaction.atomic():
            if not _mark(target, head):
                return Outcome(target.slug, "skipped", "another worker handled this head")
            waiting = (Status.QUEUED, Status.PENDING_APPROVAL)
            superseded = Deployment.objects.filter(target=target, status__in=waiting, automatic=True)
            for older in superseded:
                reason = f"superseded by {head[:7]}"
                if older.status == Status.PENDING_APPROVAL:  # nobody approved it: the newer head asks instead
                    reason = "superseded by a newer head"
                if Deployment.objects.filter(pk=older.pk, status=older.status).update(
                    status=Status.CANCELLED, finished_at=timezone.now(), reason=reason
                ):
                    audit.record(actor=system, action="deployment.cancelled", deployment=older, detail=reason)
            deployment = services.deployment_queue(
                actor=system,
                target=target,
                sha=head,
                ref=target.auto_deploy_branch,
                note=f"Auto-deploy of {target.auto_deploy_branch}.",
                automatic=True,
                pending_approval=target.require_approval,  # waits for a second person like any request
            )
    except IntegrityError:  # a concurrent auto-deploy of this target won
        return Outcome(target.slug, "skipped", "another worker queued an auto-deployment")
    log.info("auto-deploy queued #%s (%s) to %s", deployment.pk, head[:7], target)
    why = "waiting for approval" if deployment.status == Status.PENDING_APPROVAL else ""
    return Outcome(target.slug, "queued", why, deployment=deployment)
