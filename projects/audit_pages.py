"""/audit/: who did what, when, filtered and paginated, and the same view as CSV."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from portal.actor import Actor
from portal.audit import queries as audit_log
from portal.errors import BadRequest
from portal.paging import page_number, window
from projects import access
from projects.models import App

PAGE_SIZE = 50


def _filtered(request: HttpRequest):
    """The scope check (one helper) and the filtered events, or a BadRequest for a bad date."""
    actor = Actor.from_request(request, "web")
    scope = access.audit_scope(actor, request.GET.get("app", "").strip())
    filters = audit_log.Filters.parse(request.GET)
    return actor, filters, audit_log.events(apps=scope, filters=filters)


@login_required
def audit_page(request: HttpRequest) -> HttpResponse:
    try:
        actor, filters, events = _filtered(request)
    except BadRequest as error:
        return render(
            request, "projects/audit.html", {"error": str(error), "actions": audit_log.ACTIONS}, status=400
        )
    page = window(events, page=page_number(request.GET.get("page")), per_page=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    apps = access.audit_scope(actor)
    return render(
        request,
        "projects/audit.html",
        {
            "page": page,
            "filters": request.GET,
            "query": query.urlencode(),
            "actions": audit_log.ACTIONS,
            "apps": apps if apps is not None else App.objects.values_list("slug", flat=True),
        },
    )


@login_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    try:
        _, _, events = _filtered(request)
    except BadRequest as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(audit_log.csv_chunks(events), content_type="text/csv; charset=utf-8")
    name = f"bartender-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
