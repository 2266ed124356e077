"""The dashboard: every app the user may see, each target's live commit and what runs now."""

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.web import overview
from portal.paging import page_number
from projects import access
from projects.models import Access, App

PAGE_SIZE = 50


def _mine_first(user) -> list[App]:
    """The apps the user may see: those granted to them or their teams first, then the rest, by name.

    Staff see every app; the few they work on should not drown among the others.
    """
    granted = Access.objects.filter(Q(user=user) | Q(team__in=user.groups.all()), app_id=OuterRef("pk"))
    return list(access.visible_apps(user).annotate(mine=Exists(granted)).order_by("-mine", "name", "id"))


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    apps = _mine_first(request.user)
    query = request.GET.get("q", "").strip()[:100]
    shown = [app for app in apps if query.lower() in app.name.lower() or query.lower() in app.slug] if query else apps
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = min(page_number(request.GET.get("page")), pages)
    return render(
        request,
        "portal/dashboard.html",
        {
            "rows": overview.app_summaries(shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]),
            "query": query,
            "app_count": len(apps),
            "page": page,
            "pages": pages,
            "live_version": overview.state_version(apps),
        },
    )
