"""/apps/{app}/ci-tokens/: an app's admins see its CI tokens, make one, and revoke any."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal.actor import Actor
from portal.errors import ServiceError
from projects import access, ci
from projects.models import Role


@login_required
def ci_tokens(request: HttpRequest, app: str) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    found = access.app_for(actor, app, Role.ADMIN, action="manage CI tokens")
    made = ""
    if request.method == "POST":
        try:
            made = ci.ci_token_create(actor=actor, app=found, name=request.POST.get("name", ""))
        except ServiceError as error:
            messages.error(request, str(error))
    return render(
        request, "projects/ci_tokens.html", {"app": found, "tokens": ci.ci_tokens(actor=actor, app=found), "made": made}
    )


@login_required
@require_http_methods(["GET", "POST"])
def ci_token_revoke(request: HttpRequest, app: str, token_id: int) -> HttpResponse:
    """GET asks first (which token, made by whom, what stops working); POST revokes."""
    actor = Actor.from_request(request, "web")
    found = access.app_for(actor, app, Role.ADMIN, action="manage CI tokens")
    if request.method == "GET":
        token = next((t for t in ci.ci_tokens(actor=actor, app=found) if t.pk == token_id), None)
        if token is None:
            raise Http404("No such CI token.")
        return render(request, "projects/settings/revoke_token.html", {"app": found, "token": token})
    ci.ci_token_revoke(actor=actor, app=found, token_id=token_id)
    messages.info(request, "Revoked.")
    return redirect(reverse("ci-tokens", args=[found.slug]))
