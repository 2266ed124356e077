"""Small endpoints the pages poll to stay live without reloads (the browser session authenticates).

- `/live/state?app=SLUG`: a fingerprint of the visible apps' targets; the dashboard and the
  app page fetch their fresh markup only when it changes. `lines=0` leaves running deployments'
  log lines out of it (the app page, which does not show them).
- `/deployments/ID/tail?after=N`: the log lines after N as HTML (ANSI colours rendered on the
  server, escaped first) with the deployment's facts, for the deployment page. Every viewer asks
  once a second, so it reads the database only: no git (the page rendered the commit's message
  and what changed once; the facts mark the commit's row for the page to keep).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from deployments import selectors
from deployments.web import dashboard, overview
from deployments.web.app_page import refresh_in_background
from deployments.web.pages import facts_context, log_lines
from portal.actor import Actor
from projects import access, mirror

TAIL_LINES = 2000


@login_required
@require_GET
def state(request: HttpRequest) -> JsonResponse:
    apps = access.visible_apps(request.user)
    slug = request.GET.get("app", "")
    if slug:
        apps = apps.filter(slug=slug)
    elif request.GET.get("board") == "1":  # one page of the dashboard, as the page chose it
        apps, *_ = dashboard.page_of_apps(
            request.user, query=request.GET.get("q", "").strip()[:100], page=request.GET.get("page")
        )
    with_lines = request.GET.get("lines") != "0"
    with_heads = bool(slug) and request.GET.get("heads") == "1"
    if with_heads:
        for app in apps:  # an open app page follows its branches: fetch when the mirror is stale
            age = mirror.age(app)
            if age is not None and age > settings.MIRROR_MAX_AGE:
                refresh_in_background(app)
    version = overview.state_version(list(apps), with_log_lines=with_lines, with_heads=with_heads)
    return JsonResponse({"version": version})


@login_required
@require_GET
def deployment_tail(request: HttpRequest, deployment_id: int) -> JsonResponse:
    deployment, grant = selectors.deployment_for(Actor.from_request(request, "web"), deployment_id)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    lines = log_lines(deployment, after=after, limit=TAIL_LINES)
    context = facts_context(deployment, grant)
    # Rendered without the request: the page-wide context processors (worker count, audit link)
    # would cost every poll queries the facts never show; the forms need only the CSRF token.
    facts = {**context, "csrf_token": get_token(request), "user": request.user}
    return JsonResponse(
        {
            "status": deployment.status,
            # A health check still prints probes after the deployment finished: keep polling.
            "finished": deployment.is_finished and deployment.health != "checking",
            "after": lines[-1].n if lines else after,
            "more": len(lines) == TAIL_LINES,
            "html": render_to_string("deployments/_log_lines.html", {"lines": lines}),
            "facts": render_to_string("deployments/_facts.html", facts),
            "title": render_to_string("deployments/_title.txt", context).strip(),
            "changes_heading": context["changes_heading"],
        }
    )
