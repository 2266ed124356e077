"""/apps/{app}/settings/ and its targets: list, add and change them through the API's services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from portal.actor import Actor
from portal.errors import ServiceError
from projects import services
from projects.models import App
from projects.settings_pages.common import for_app_admins
from projects.settings_pages.forms import TargetForm, show_error


@for_app_admins("manage the app's settings")
def overview(request: HttpRequest, actor: Actor, app: App) -> HttpResponse:
    return render(request, "projects/settings/targets.html", {"app": app, "targets": list(app.targets.all())})


@for_app_admins("add targets")
def target_new(request: HttpRequest, actor: Actor, app: App) -> HttpResponse:
    form = TargetForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                made = services.target_create(actor=actor, app=app, **form.service_fields())
            except (ServiceError, PermissionDenied, Http404) as error:
                status = show_error(form, error)
            else:
                messages.info(request, f"Added the target {made.name}.")
                return redirect(reverse("settings", args=[app.slug]))
    return render(request, "projects/settings/target_form.html", {"app": app, "form": form}, status=status)


@for_app_admins("change targets")
def target_edit(request: HttpRequest, actor: Actor, app: App, target: str) -> HttpResponse:
    found = app.targets.filter(slug=target).first()
    if found is None:
        raise Http404("No such target.")
    form = TargetForm(request.POST or None, target=found)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                # A copy: a refused change must not show on this page as if it were saved.
                services.target_update(actor=actor, target=app.targets.get(pk=found.pk), **form.service_fields())
            except (ServiceError, PermissionDenied, Http404) as error:
                status = show_error(form, error)
            else:
                messages.info(request, f"Saved {found.name}.")
                return redirect(reverse("settings", args=[app.slug]))
    return render(
        request, "projects/settings/target_form.html", {"app": app, "form": form, "target": found}, status=status
    )
