"""Continuous-deployment pieces of pages: what's going out, promote links, Heroku release rollback."""

from __future__ import annotations

from django import template

from deployments.models import Deployment, Status
from deployments.web.outgoing import compare_url, going_out
from projects import access, ci
from projects.models import App, Role, Target

register = template.Library()


@register.inclusion_tag("deployments/_outgoing.html")
def outgoing(app: App, live: str, sha: str) -> dict:
    return {"out": going_out(app, live=live or "", sha=sha or "")}


@register.inclusion_tag("deployments/_promote.html", takes_context=True)
def promote(context, app: App, sources: list[Target]) -> dict:
    """Promote buttons for a commit live on `sources`: deploy it to each other target the user
    may deploy to (through the confirmation page, which shows what's going out)."""
    if not sources:
        return {"links": []}
    grant = access.grant_for(context["request"].user, app)
    sha = sources[0].live_sha
    names = ", ".join(source.name for source in sources)
    live = {source.pk for source in sources}
    targets = [t for t in app.targets.all() if t.pk not in live and t.live_sha != sha and grant.may_deploy(t)]
    return {"links": [{"app": app, "target": t, "sha": sha, "source": names} for t in targets]}


@register.inclusion_tag("deployments/_cd_facts.html", takes_context=True)
def cd_facts(context, deployment: Deployment) -> dict:
    """Continuous-deployment facts of a deployment: auto-deploy, CI override, Heroku release
    (with the fast rollback back to it), a GitHub compare link, and promote links."""
    user = context["request"].user
    target = deployment.target
    grant = access.grant_for(user, deployment.app)
    may_roll_back = (
        bool(target.heroku_app and deployment.heroku_release_id)
        and deployment.status == Status.SUCCEEDED
        and target.live_sha != deployment.sha
        and grant.may_deploy(target)
    )
    live_here = deployment.status == Status.SUCCEEDED and target.live_sha == deployment.sha
    return {
        "deployment": deployment,
        "may_roll_back": may_roll_back,
        "compare_url": compare_url(deployment.app.repo_url, deployment.previous_sha, deployment.sha)
        if deployment.previous_sha and deployment.previous_sha != deployment.sha
        else "",
        "promote_to": [
            t
            for t in deployment.app.targets.all()
            if t.pk != target.pk and t.live_sha != deployment.sha and grant.may_deploy(t)
        ]
        if live_here
        else [],  # fmt: skip
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("projects/_ci_gate.html", takes_context=True)
def ci_gate(context, target: Target, sha: str) -> dict:
    """On the deploy confirmation: the commit's CI state, why the gate refuses it, and for app
    admins the field to override it with a reason."""
    found = ci.combined(target.app, [sha]).get(sha)
    problem = ci.gate_problem(target, sha)
    grant = access.grant_for(context["request"].user, target.app)
    return {"ci": found, "problem": problem, "may_override": bool(problem) and grant.at_least(Role.ADMIN)}
