"""The deployment page's Approve and Reject buttons: thin POST views over deployments/approval.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import approval, selectors
from portal.actor import Actor
from portal.errors import ServiceError


@login_required
@require_POST
def approve(request: HttpRequest, deployment_id: int) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    deployment, _ = selectors.deployment_for(actor, deployment_id)
    try:
        approval.approve(actor=actor, deployment=deployment)
        messages.info(request, "Approved: the deployment is queued.")
    except ServiceError as error:
        messages.error(request, str(error))
    return redirect(reverse("deployment", args=[deployment.pk]))


@login_required
@require_POST
def reject(request: HttpRequest, deployment_id: int) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    deployment, _ = selectors.deployment_for(actor, deployment_id)
    try:
        approval.reject(actor=actor, deployment=deployment, reason=request.POST.get("reason", ""))
        messages.info(request, "Rejected: the deployment is cancelled.")
    except ServiceError as error:
        messages.error(request, str(error))
    return redirect(reverse("deployment", args=[deployment.pk]))
