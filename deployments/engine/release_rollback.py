"""The worker side of a claimed Heroku release rollback: one Platform API call, then finish."""

from __future__ import annotations

import logging

from deployments.credentials import CannotRun, api_key
from deployments.engine.finish import finish
from deployments.heroku.client import Heroku, HerokuError
from deployments.log import append_last
from deployments.models import Deployment, Status
from portal.actor import Actor
from portal.audit import events as audit

log = logging.getLogger("bartender.releases")


def execute(deployment: Deployment) -> None:
    """Roll the target back to the release of `deployment.rollback_of`; never leaves it running."""
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
        append_last(deployment, f"Rolling {target.heroku_app} back to release v{source.heroku_release_version} "
                         f"({deployment.short_sha}).")  # fmt: skip
        release = Heroku(api_key(target)).rollback(target.heroku_app, source.heroku_release_id)
        Deployment.objects.filter(pk=deployment.pk).update(
            heroku_release_id=release.id, heroku_release_version=release.version
        )
        append_last(
            deployment, f"Heroku created release v{release.version}; {target.name} runs {deployment.short_sha}."
        )
        status = Status.SUCCEEDED
    except (HerokuError, CannotRun) as error:
        reason = str(error)
        append_last(deployment, f"Failed: {reason}")
    except Exception as error:  # never leave it running
        log.exception("release rollback %s crashed", deployment.pk)
        reason = f"Internal error: {error.__class__.__name__}."
    finish(deployment, status=status, reason=reason)
