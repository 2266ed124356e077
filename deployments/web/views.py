"""Web pages for deploying, following a deployment, and a target's history."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from deployments import locks, selectors, services
from deployments.models import Status
from deployments.web import pages
from portal.actor import Actor
from portal.errors import ServiceError
from projects import access, mirror
from projects.locks import active_lock
from projects.models import Role, Target


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "web")


def _back_to_app(request: HttpRequest, app_slug: str) -> str:
    """Where a refused deploy sends the user: the app page they came from, with its branch, page
    and search (a `next` field, else the Referer), when that is this site's app page; else the
    app page itself."""
    app_url = reverse("app", args=[app_slug])
    for candidate in (request.POST.get("next", ""), request.GET.get("next", ""), request.headers.get("Referer", "")):
        if not candidate or not url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            continue
        parsed = urlsplit(candidate)
        if parsed.path == app_url:
            return app_url + (f"?{parsed.query}" if parsed.query else "")
    return app_url


@login_required
def deploy(request: HttpRequest, app: str, target: str) -> HttpResponse:
    """GET: the confirmation of one deploy (what goes back for a rollback). POST: deploy."""
    found = access.target_for(_actor(request), app, target)
    ref = (request.POST if request.method == "POST" else request.GET).get("ref", "").strip()
    if request.method == "POST":
        lock_after = ""
        if request.POST.get("lock_after"):
            lock_after = request.POST.get("lock_reason", "").strip()
            if not lock_after:
                error = f"lock_reason: say why {found.name} stays locked after the rollback, or untick the lock."
                return _confirmation(request, found, ref, error=error, status=400)
        try:
            deployment = services.deployment_request(
                actor=_actor(request),
                target=found,
                ref=ref,
                note=request.POST.get("note", ""),
                ci_override_reason=request.POST.get("ci_override_reason", ""),
                approval_override_reason=request.POST.get("approval_override_reason", ""),
                window_override_reason=request.POST.get("window_override_reason", ""),
                lock_after=lock_after,
            )
        except ServiceError as error:
            messages.error(request, str(error))
            return redirect(_back_to_app(request, found.app.slug))
        return redirect(reverse("deployment", args=[deployment.pk]))
    return _confirmation(request, found, ref)


def _confirmation(request: HttpRequest, found: Target, ref: str, *, error: str = "", status: int = 200) -> HttpResponse:
    grant = access.require(_actor(request), found.app, Role.DEPLOYER, target=found, action="deploy")
    try:
        sha = services.resolve_ref(found, ref)
    except ServiceError as problem:
        messages.error(request, str(problem))
        return redirect(_back_to_app(request, found.app.slug))
    back = services.rollback_distance(found, sha)
    going_back = []
    if back:
        going_back = mirror.commits_between(found.app, sha, found.live_sha, limit=100)
    live = found.live_sha
    diverged = bool(live) and not back and sha != live and not mirror.is_ancestor(found.app, live, sha)
    posted = request.POST if request.method == "POST" else None
    return render(
        request,
        "deployments/confirm.html",
        {
            "target": found,
            "app": found.app,
            "sha": sha,
            "commit": mirror.commit(found.app, sha),
            "back": back,
            "going_back": going_back,
            "diverged": diverged,
            "redeploy": bool(live) and sha == live,
            "next": _back_to_app(request, found.app.slug),
            "lock": active_lock(found),
            "may_unlock": grant.may_deploy(found),
            "here": f"{request.path}?ref={sha}",
            # "Lock the target afterwards": on by default for protected targets, kept as posted.
            "lock_after": bool(posted.get("lock_after")) if posted is not None else found.protected,
            "lock_reason": posted.get("lock_reason", "") if posted is not None else "",
            "error": error,
        },
        status=status,
    )


@login_required
def deployment_page(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, grant = selectors.deployment_for(_actor(request), deployment_id)
    lines = pages.log_lines(deployment)
    context = pages.deployment_context(request, deployment, grant)
    return render(
        request,
        "deployments/deployment.html",
        {**context, "lines": lines, "last_n": lines[-1].n if lines else 0},
    )


@login_required
def deployment_log(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, _ = selectors.deployment_for(_actor(request), deployment_id)
    text = "\n".join(deployment.lines.order_by("n").values_list("text", flat=True))
    response = HttpResponse(text + "\n", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deployment-{deployment.pk}.log"'
    return response


@login_required
@require_POST
def cancel(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, _ = selectors.deployment_for(_actor(request), deployment_id)
    try:
        services.deployment_cancel(actor=_actor(request), deployment=deployment)
        messages.info(request, "Cancel requested.")
    except ServiceError as error:
        messages.error(request, str(error))
    return redirect(reverse("deployment", args=[deployment.pk]))


@login_required
def target_page(request: HttpRequest, app: str, target: str) -> HttpResponse:
    found = access.target_for(_actor(request), app, target)
    grant = access.grant_for(request.user, found.app)
    history = list(found.deployments.exclude(status=Status.QUEUED).order_by("-id")[:100])
    queue = found.deployments.filter(status=Status.QUEUED).order_by("id")
    may_deploy = grant.may_deploy(found)
    return render(
        request,
        "deployments/target.html",
        {
            "target": found,
            "app": found.app,
            "history": pages.history_rows(found, history, may_deploy=may_deploy),
            "queue": queue,
            "lock": active_lock(found),
            "may_deploy": may_deploy,
            "lock_durations": locks.DURATIONS,
        },
    )


def _safe_next(request: HttpRequest, fallback: str) -> str:
    """Where a form on another page (the confirmation's Unlock) asks to go back: this site only."""
    wanted = request.POST.get("next", "")
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return fallback


@login_required
@require_POST
def lock(request: HttpRequest, app: str, target: str) -> HttpResponse:
    found = access.target_for(_actor(request), app, target)
    back = _safe_next(request, reverse("target", args=[found.app.slug, found.slug]))
    try:
        if request.POST.get("unlock"):
            locks.unlock_target(actor=_actor(request), target=found)
            messages.info(request, f"{found.name} is unlocked.")
        else:
            until = locks.until_after(request.POST.get("duration", ""))
            locks.lock_target(actor=_actor(request), target=found, reason=request.POST.get("reason", ""), until=until)
    except ServiceError as error:
        messages.error(request, str(error))
    return redirect(back)
