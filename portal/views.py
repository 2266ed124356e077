from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from deployments.models import Deployment
from portal.health import database_ok, live_workers
from projects import access
from projects.models import Target


def healthz(request: HttpRequest) -> JsonResponse:
    if not database_ok():
        return JsonResponse({"database": "unreachable", "workers": 0}, status=503)
    return JsonResponse({"database": "ok", "workers": live_workers()})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    apps = access.visible_apps(request.user).prefetch_related(
        Prefetch("targets", queryset=Target.objects.select_related("lock"))
    )
    rows = []
    for app in apps:
        targets = []
        for target in app.targets.all():
            last = target.deployments.order_by("-id").first()
            live = (
                target.deployments.filter(status="succeeded", sha=target.live_sha).order_by("-id").first()
                if target.live_sha
                else None
            )
            targets.append({"target": target, "last": last, "live": live})
        rows.append({"app": app, "targets": targets})
    return render(request, "portal/dashboard.html", {"rows": rows})


__all__ = ["Deployment", "dashboard", "healthz"]
