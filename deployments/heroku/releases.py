"""Heroku releases: the release a push created, and fast rollback to an earlier release.

Reading a release is best effort: a deployment's outcome rests on its push alone. A release
rollback is a deployment of its own (kind `release_rollback`), queued and claimed like any
other so it respects the lock and the one-at-a-time rule, but it moves no git ref: Heroku runs
the old release's slug again, and the target's live_sha becomes that release's sha. The worker
side of it is deployments/engine/release_rollback.py.
"""

from __future__ import annotations

import logging

from deployments import gates, services
from deployments.credentials import CannotRun, api_key
from deployments.heroku.client import Heroku, HerokuError
from deployments.log import append_last
from deployments.models import Deployment, Kind, Status
from portal.actor import Actor
from portal.errors import BadRequest, Conflict, Unavailable
from projects import access
from projects.models import Role

log = logging.getLogger("bartender.releases")


def record_release(deployment: Deployment) -> str:
    """Read the release a successful push to a Heroku target created and store its version."""
    target = deployment.target
    if not target.heroku_app or deployment.status != Status.SUCCEEDED or deployment.heroku_release_id:
        return ""
    try:
        recent = Heroku(api_key(target)).releases(target.heroku_app, limit=10)
    except (HerokuError, CannotRun) as error:
        append_last(deployment, f"The Heroku release could not be read: {error}")
        return ""
    # Heroku describes a git push's release as "Deploy <short sha>"; else take the newest.
    release = next((r for r in recent if deployment.short_sha in r.description), recent[0] if recent else None)
    if release is None:
        return ""
    Deployment.objects.filter(pk=deployment.pk, heroku_release_id="").update(
        heroku_release_id=release.id, heroku_release_version=release.version
    )
    append_last(deployment, f"Heroku release v{release.version}.")
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
    _require_eligible(deployment)
    sha, override = gates.admit(
        actor=actor, target=target, resolve=lambda: deployment.sha, ci_override_reason=ci_override_reason
    )
    gates.window_gate(actor=actor, target=target, sha=sha, rollback=True)  # may go out in a freeze unless turned off
    version = deployment.heroku_release_version
    return services.deployment_queue(
        actor=actor,
        target=target,
        sha=sha,
        ref=f"v{version}" if version else deployment.heroku_release_id,
        note=note or f"Back to Heroku release v{version} of deployment #{deployment.pk}.",
        ci_override=override,
        kind=Kind.RELEASE_ROLLBACK,
        rollback_of=deployment,
        # A person's rollback to an approval target waits for a second person like any request;
        # only the automatic health rollback (system) restores without one.
        pending_approval=target.require_approval,
    )


def _require_eligible(deployment: Deployment) -> None:
    """Ask Heroku whether the release may be rolled back to (its `eligible_for_rollback`)
    before queueing, so a refused rollback is a sentence now rather than a failed deployment.

    Best effort: Heroku unreachable or failing (no answer, 429, 5xx) is a 503 sentence, since
    the rollback could not be made now either; a refusal of the key or app (401, 403, 404) or
    a target without a key is left to the queued rollback, which fails saying so in its log.
    """
    target = deployment.target
    version = deployment.heroku_release_version
    named = f"v{version}" if version else deployment.heroku_release_id
    try:
        key = api_key(target)
        if not key:
            return
        release = Heroku(key).release(target.heroku_app, deployment.heroku_release_id)
    except CannotRun:
        return
    except HerokuError as error:
        if error.status is None or error.status == 429 or error.status >= 500:
            raise Unavailable(
                f"Heroku could not be asked whether release {named} may be rolled back to; nothing was queued. {error}"
            ) from None
        return
    if release.eligible_for_rollback is False:
        raise Conflict(
            f"Heroku says release {named} of {target.heroku_app} is not eligible for rollback; "
            f"deploy the commit of deployment #{deployment.pk} instead."
        )
