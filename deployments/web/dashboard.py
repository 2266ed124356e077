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


def page_of_apps(user, *, query: str, page: str | None) -> tuple[list[App], int, int, int]:
    """The apps one page of the dashboard shows (mine first, filtered by `query`), how many the
    user may see in all, the page number and the number of pages."""
    apps = _mine_first(user)
    shown = [app for app in apps if query.lower() in app.name.lower() or query.lower() in app.slug] if query else apps
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    number = min(page_number(page), pages)
    return shown[(number - 1) * PAGE_SIZE : number * PAGE_SIZE], len(apps), number, pages


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    on_page, app_count, page, pages = page_of_apps(request.user, query=query, page=request.GET.get("page"))
    rows = overview.app_summaries(on_page)
    grants = access.grants_for(request.user, [app for app, _ in rows])
    for app, summaries in rows:
        for summary in summaries:
            summary.may_deploy = grants[app.pk].may_deploy(summary.target)
    return render(
        request,
        "portal/dashboard.html",
        {
            "rows": rows,
            "query": query,
            "app_count": app_count,
            "page": page,
            "pages": pages,
            # What this page shows, not every app: the poll costs the same at 50 apps or 5,000.
            "live_version": overview.state_version(on_page),
        },
    )
