"""Pages for continuous deployment: Heroku fast rollback, and the notification log of an app."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors
from deployments.heroku import releases
from deployments.web import webhook_pages
from portal.actor import Actor
from portal.errors import ServiceError
from projects import access
from projects.models import Role


@login_required
@require_POST
def release_rollback(request: HttpRequest, deployment_id: int) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    deployment, _ = selectors.deployment_for(actor, deployment_id)
    try:
        created = releases.release_rollback_request(actor=actor, deployment=deployment)
    except ServiceError as error:
        messages.error(request, str(error))
        return redirect(reverse("deployment", args=[deployment.pk]))
    return redirect(reverse("deployment", args=[created.pk]))


@login_required
def notifications(request: HttpRequest, app: str) -> HttpResponse:
    found = access.app_for(Actor.from_request(request, "web"), app, Role.ADMIN, action="see notification deliveries")
    return webhook_pages.page(request, found)
