"""The notifications settings of an app: add a webhook and send it a test, from the page that
lists the webhooks and their delivery log (deployments/web/delivery.py shows it)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments.delivery import notify
from deployments.models import Delivery, Webhook
from portal.actor import Actor
from portal.errors import ServiceError
from projects import access
from projects.models import App, Role


def page(request: HttpRequest, app: App, *, status: int = 200, **extra) -> HttpResponse:
    """The notifications page of `app` (its webhooks, their deliveries, the form to add one)."""
    return render(
        request,
        "deployments/notifications.html",
        {
            "app": app,
            "webhooks": app.webhooks.all(),
            "deliveries": notify.deliveries_for(app, limit=100),
            "formats": Webhook.Format.choices,
            "events": notify.EVENTS,
            **extra,
        },
        status=status,
    )


@login_required
@require_POST
def webhook_new(request: HttpRequest, app: str) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    found = access.app_for(actor, app, Role.ADMIN, action="add notification webhooks")
    try:
        webhook, secret = notify.webhook_create(
            actor=actor,
            app=found,
            name=request.POST.get("name", ""),
            url=request.POST.get("url", "").strip(),
            format=request.POST.get("format", Webhook.Format.SLACK),
            events=request.POST.getlist("events"),
        )
    except (ServiceError, PermissionDenied) as error:
        return page(request, found, status=getattr(error, "status", 403), error=str(error), entered=request.POST)
    # A JSON webhook's signing secret is shown on this answer only, like a new token.
    return page(request, found, status=201, made=webhook, made_secret=secret)


@login_required
@require_POST
def webhook_test(request: HttpRequest, app: str, webhook_id: int) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    found = access.app_for(actor, app, Role.ADMIN, action="test notification webhooks")
    sent = notify.webhook_test(actor=actor, app=found, webhook_id=webhook_id)
    if sent.state == Delivery.State.DELIVERED:
        messages.info(request, f"Test sent to {sent.webhook.name}: HTTP {sent.status_code}.")
    else:
        messages.error(request, f"The test to {sent.webhook.name} failed: {sent.error or f'HTTP {sent.status_code}'}")
    return redirect(reverse("notifications", args=[found.slug]))
