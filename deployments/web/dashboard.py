"""The dashboard: every app the user may see, each target's live commit and what runs now."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.web import overview
from projects import access


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    apps = list(access.visible_apps(request.user))
    query = request.GET.get("q", "").strip()[:100]
    shown = [app for app in apps if query.lower() in app.name.lower() or query.lower() in app.slug] if query else apps
    return render(
        request,
        "portal/dashboard.html",
        {
            "rows": overview.app_summaries(shown),
            "query": query,
            "app_count": len(apps),
            "live_version": overview.state_version(apps),
        },
    )
