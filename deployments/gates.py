"""What a deployment must pass before it is queued, and again when it starts: lock and CI gate.

Every way of asking for a deployment (a person's request, a Heroku release rollback) goes
through `admit`; auto-deploy reads the same gate through projects.ci before it asks.
"""

from __future__ import annotations

from collections.abc import Callable

from deployments.models import Deployment
from portal.actor import Actor
from portal.errors import Conflict
from projects import access, ci
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
    """Why a claimed deployment may not push after all: its CI gate, checked again at start."""
    if deployment.ci_override:
        return None
    problem = ci.gate_problem(deployment.target, deployment.sha)
    return f"CI gate at start: {problem}" if problem else None
