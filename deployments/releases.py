"""Heroku releases: the release a push created, and fast rollback to an earlier release.

Reading a release is best effort: a deployment's outcome rests on its push alone. A release
rollback is a deployment of its own (kind `release_rollback`), queued and claimed like any
other so it respects the lock and the one-at-a-time rule, but it moves no git ref: Heroku runs
the old release's slug again, and the target's live_sha becomes that release's sha.
"""

from __future__ import annotations

import logging

from django.db.models import Max

from deployments import audit, services
from deployments.heroku import Heroku, HerokuError
from deployments.models import Deployment, Kind, LogLine, Status
from portal.actor import Actor
from portal.errors import BadRequest, Conflict
from projects import access
from projects.models import Role

log = logging.getLogger("bartender.releases")


def _say(deployment: Deployment, text: str) -> None:
    last = LogLine.objects.filter(deployment=deployment).aggregate(n=Max("n"))["n"] or 0
    LogLine.objects.create(deployment=deployment, n=last + 1, text=f"[bartender] {text}")


def record_release(deployment: Deployment) -> str:
    """Read the release a successful push to a Heroku target created and store its version."""
    from deployments.runner import CannotRun, api_key

    target = deployment.target
    if not target.heroku_app or deployment.status != Status.SUCCEEDED or deployment.heroku_release_id:
        return ""
    try:
        recent = Heroku(api_key(target)).releases(target.heroku_app, limit=10)
    except (HerokuError, CannotRun) as error:
        _say(deployment, f"The Heroku release could not be read: {error}")
        return ""
    # Heroku describes a git push's release as "Deploy <short sha>"; else take the newest.
    release = next((r for r in recent if deployment.short_sha in r.description), recent[0] if recent else None)
    if release is None:
        return ""
    Deployment.objects.filter(pk=deployment.pk, heroku_release_id="").update(
        heroku_release_id=release.id, heroku_release_version=release.version
    )
    _say(deployment, f"Heroku release v{release.version}.")
    return f"v{release.version}"


def release_rollback_request(
    *, actor: Actor, deployment: Deployment, note: str = "", ci_override_reason: str = ""
) -> Deployment:
    """Queue a fast rollback of the deployment's target to the Heroku release it created."""
    target = deployment.target
    access.require(actor, deployment.app, Role.DEPLOYER, target=target, action="roll back")
    if not target.heroku_app:
        raise BadRequest(f"{target.name} is not a Heroku target: roll back by deploying an older commit.")
    if deployment.status != Status.SUCCEEDED or not deployment.heroku_release_id:
        raise Conflict(f"Deployment #{deployment.pk} has no Heroku release to go back to.")
    lock = services.active_lock(target)
    if lock is not None:
        raise Conflict(f"{target.name} is locked by {lock.by}: {lock.reason}")
    override = services.ci_gate(actor=actor, target=target, sha=deployment.sha, override_reason=ci_override_reason)
    version = deployment.heroku_release_version
    return services.deployment_queue(
        actor=actor,
        target=target,
        sha=deployment.sha,
        ref=f"v{version}" if version else deployment.heroku_release_id,
        note=note or f"Back to Heroku release v{version} of deployment #{deployment.pk}.",
        ci_override=override,
        kind=Kind.RELEASE_ROLLBACK,
        rollback_of=deployment,
    )


def execute(deployment: Deployment) -> None:
    """The worker side of a claimed release rollback: one API call, then finish."""
    from deployments.runner import CannotRun, api_key, finish

    target = deployment.target
    source = deployment.rollback_of
    audit.record(
        actor=Actor.system(),
        action="deployment.started",
        deployment=deployment,
        detail=f"Started rolling {target.slug} back to a Heroku release.",
    )
    status, reason = Status.FAILED, ""
    try:
        if source is None or not source.heroku_release_id:
            raise HerokuError("The deployment whose release this rollback restores is gone.")
        _say(deployment, f"Rolling {target.heroku_app} back to release v{source.heroku_release_version} "
                         f"({deployment.short_sha}).")  # fmt: skip
        release = Heroku(api_key(target)).rollback(target.heroku_app, source.heroku_release_id)
        Deployment.objects.filter(pk=deployment.pk).update(
            heroku_release_id=release.id, heroku_release_version=release.version
        )
        _say(deployment, f"Heroku created release v{release.version}; {target.name} runs {deployment.short_sha}.")
        status = Status.SUCCEEDED
    except (HerokuError, CannotRun) as error:
        reason = str(error)
        _say(deployment, f"Failed: {reason}")
    except Exception as error:  # never leave it running
        log.exception("release rollback %s crashed", deployment.pk)
        reason = f"Internal error: {error.__class__.__name__}."
    finish(deployment, status=status, reason=reason)
