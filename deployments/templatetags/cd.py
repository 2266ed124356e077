"""Pieces of pages: what's going out, continuous-deployment facts, the CI gate, and times."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from deployments.models import Deployment, Status
from deployments.web.outgoing import compare_url, going_out
from projects import access, ci
from projects.models import App, Role, Target

register = template.Library()


@register.inclusion_tag("deployments/_outgoing.html")
def outgoing(app: App, live: str, sha: str) -> dict:
    return {"out": going_out(app, live=live or "", sha=sha or "")}


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


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago_text(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


@register.filter
def ago(moment: datetime | None) -> str:
    """A relative time ("just now", "5 minutes ago") whose hover gives the absolute one.

    The title says UTC; static/time.js adds the viewer's local time to it.
    """
    if not moment:
        return ""
    text = _ago_text(moment, timezone.now())
    return format_html(
        '<time datetime="{}" data-ago title="{}">{}</time>', moment.astimezone(UTC).isoformat(), _utc_text(moment), text
    )


@register.filter
def when(moment: datetime | None, precision: str = "minutes") -> str:
    """An absolute time: UTC as the server renders it, the viewer's local time (labelled) once
    static/time.js has run, with UTC kept on hover."""
    if not moment:
        return ""
    shown = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S" if precision == "seconds" else "%Y-%m-%d %H:%M")
    return format_html(
        '<time datetime="{}" data-when="{}" title="{}">{} UTC</time>',
        moment.astimezone(UTC).isoformat(),
        precision,
        _utc_text(moment),
        shown,
    )
