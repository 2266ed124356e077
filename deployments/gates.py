"""What a deployment must pass before it is queued, and again when it starts: lock and CI gate.

Every way of asking for a deployment (a person's request, a Heroku release rollback) goes
through `admit`; auto-deploy reads the same gate through projects.ci before it asks.
"""

from __future__ import annotations

from collections.abc import Callable

from deployments import approval, kinds
from deployments.models import Deployment, Kind, Status
from portal.actor import Actor
from portal.errors import Conflict
from projects import access, ci, mirror, windows
from projects.git import GitError
from projects.locks import active_lock
from projects.models import Role, Target


def admit(*, actor: Actor, target: Target, resolve: Callable[[], str], ci_override_reason: str = "") -> tuple[str, str]:
    """The sha to queue and the CI override reason ("" when none was needed); Conflict otherwise.

    The lock is read first, so a locked target answers with its lock before any fetch;
    `resolve` (which may fetch) runs only for an unlocked target.
    """
    require_unlocked(target)
    sha = resolve()
    return sha, ci_gate(actor=actor, target=target, sha=sha, override_reason=ci_override_reason)


def require_unlocked(target: Target) -> None:
    lock = active_lock(target)
    if lock is not None:
        raise Conflict(f"{target.name} is locked by {lock.by}: {lock.reason}")


def ci_gate(*, actor: Actor, target: Target, sha: str, override_reason: str = "") -> str:
    """Conflict when `target` requires CI and `sha` is not green, unless an app admin overrides.

    Returns the override reason when one was needed (the caller stores and audits it).
    """
    problem = ci.gate_problem(target, sha)
    if problem is None:
        return ""
    override_reason = override_reason.strip()
    if not override_reason:
        raise Conflict(f"CI gate: {problem}")
    access.require(actor, target.app, Role.ADMIN, target=target, action="override the CI gate")
    return f"{override_reason[:400]} ({problem})"[:500]



def start_refusal(deployment: Deployment) -> str | None:
    """Why a claimed deployment may not push after all: its approval and CI gate, checked again at start."""
    if problem := approval.start_problem(deployment):
        return problem
    if deployment.ci_override:
        return None
    problem = ci.gate_problem(deployment.target, deployment.sha)
    return f"CI gate at start: {problem}" if problem else None


def window_gate(
    *, actor: Actor, target: Target, sha: str, override_reason: str = "", rollback: bool | None = None
) -> str:
    """Conflict when deploying to `target` is closed (outside its windows, or in a freeze), unless
    the deployment is a rollback the target lets through (`rollbacks_during_freeze`) or an app
    admin overrides with a reason; anyone else who tries to override is refused (403, audited).

    Returns the override ("" when none was needed): the caller stores it and audits it.
    """
    closed = windows.closed(target)
    if closed is None:
        return ""
    if rollback is None:
        rollback = _is_rollback(target, sha)
    if rollback and target.rollbacks_during_freeze:
        return ""
    override_reason = (override_reason or "").strip()
    if not override_reason:
        raise Conflict(f"{closed.sentence} An app admin may deploy anyway with a window_override_reason.")
    access.require(actor, target.app, Role.ADMIN, target=target, action="deploy while deploying is closed")
    return f"{override_reason[:400]} ({closed.short})"[:500]


def _is_rollback(target: Target, sha: str) -> bool:
    return kinds.kind_of(target.app, target.live_sha, sha)[0] == Kind.ROLLBACK


def may_start_while_closed(deployment: Deployment, target: Target) -> bool:
    """Whether a queued deployment goes out although deploying to its target is closed: an app
    admin overrode the window, or it is a rollback (against what is live now) the target lets through."""
    if deployment.window_override:
        return True
    if not target.rollbacks_during_freeze:
        return False
    if deployment.kind == Kind.RELEASE_ROLLBACK:
        return True
    app, live = target.app, target.live_sha
    try:
        if live and mirror.has_commit(app, live) and mirror.has_commit(app, deployment.sha):
            return _is_rollback(target, deployment.sha)
    except GitError:
        pass
    return deployment.kind == Kind.ROLLBACK  # this worker's mirror cannot tell: the request's forecast


def startable(target: Target) -> Deployment | None:
    """The queued deployment of `target` to start next: the oldest while deploying is open; while
    it is closed, the oldest that may go out anyway (restoring service never waits behind a
    deployment waiting for the window), else None."""
    queued = Deployment.objects.filter(target_id=target.pk, status=Status.QUEUED).order_by("id")
    if windows.closed(target) is None:
        return queued.first()
    return next((d for d in queued[:50] if may_start_while_closed(d, target)), None)
