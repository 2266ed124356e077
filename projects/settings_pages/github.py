"""/apps/{app}/settings/github/: the secret GitHub signs webhooks with, and the URL to paste there."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from portal.actor import Actor
from portal.errors import ServiceError
from projects import ci
from projects.models import App
from projects.settings_pages.common import for_app_admins
from projects.settings_pages.forms import GithubSecretForm, show_error


@for_app_admins("set the GitHub webhook secret")
def github_page(request: HttpRequest, actor: Actor, app: App) -> HttpResponse:
    form = GithubSecretForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                ci.github_secret_set(actor=actor, app=app, secret=form.cleaned_data["secret"])
            except (ServiceError, PermissionDenied) as error:
                status = show_error(form, error)
            else:
                messages.info(request, "Saved the GitHub webhook secret.")
                return redirect(reverse("settings-github", args=[app.slug]))
    payload_url = settings.SITE_URL.rstrip("/") + reverse("github-hook", args=[app.slug])
    return render(
        request,
        "projects/settings/github.html",
        {"app": app, "form": form, "payload_url": payload_url, "secret_set": bool(app.github_secret_encrypted)},
        status=status,
    )
