"""/apps/{app}/settings/access/: who may do what on the app, people and teams, through the API's services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.actor import Actor
from portal.errors import ServiceError
from projects import services
from projects.models import App
from projects.settings_pages.common import for_app_admins
from projects.settings_pages.forms import ROLE_CHOICES, GrantForm, show_error


def _page(request: HttpRequest, app: App, *, form: GrantForm | None = None, status: int = 200) -> HttpResponse:
    grants = app.grants.select_related("user", "team").order_by("team__name", "user__username")
    return render(
        request,
        "projects/settings/access.html",
        {
            "app": app,
            "people": [grant for grant in grants if grant.user_id],
            "teams": [grant for grant in grants if grant.team_id],
            "team_names": Group.objects.order_by("name").values_list("name", flat=True),
            "roles": ROLE_CHOICES,
            "form": form,
        },
        status=status,
    )


@for_app_admins("manage access")
def access_page(request: HttpRequest, actor: Actor, app: App) -> HttpResponse:
    if request.method != "POST":
        return _page(request, app)
    form = GrantForm(request.POST)
    if not form.is_valid():
        return _page(request, app, form=form, status=400)
    data = form.cleaned_data
    try:
        if data["kind"] == "team":
            services.team_grant_set(actor=actor, app=app, team_name=data["name"], role=data["role"],
                                    deploy_protected=data["deploy_protected"])  # fmt: skip
        else:
            services.access_set(actor=actor, app=app, username=data["name"], role=data["role"],
                                deploy_protected=data["deploy_protected"])  # fmt: skip
    except (ServiceError, PermissionDenied, Http404) as error:
        return _page(request, app, form=form, status=show_error(form, error))
    who = f"Team {data['name']}" if data["kind"] == "team" else data["name"]
    messages.info(request, f"{who} is now {data['role']}{' + deploy_protected' if data['deploy_protected'] else ''}.")
    return redirect(reverse("settings-access", args=[app.slug]))


@require_POST
@for_app_admins("manage access")
def access_revoke(request: HttpRequest, actor: Actor, app: App) -> HttpResponse:
    kind, name = request.POST.get("kind", ""), request.POST.get("name", "")
    if kind == "team":
        services.team_grant_revoke(actor=actor, app=app, team_name=name)
    else:
        services.access_revoke(actor=actor, app=app, username=name)
    messages.info(request, f"Removed {'team ' if kind == 'team' else ''}{name}'s access.")
    return redirect(reverse("settings-access", args=[app.slug]))
