from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from deployments import overview
from portal.health import database_ok, live_workers
from projects import access


def healthz(request: HttpRequest) -> JsonResponse:
    if not database_ok():
        return JsonResponse({"database": "unreachable", "workers": 0}, status=503)
    return JsonResponse({"database": "ok", "workers": live_workers()})


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
