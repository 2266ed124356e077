"""API endpoints for continuous deployment: notification webhooks, Heroku release rollback."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from deployments import selectors
from deployments.api.deployments import DeploymentBrief, brief
from deployments.delivery import notify
from deployments.heroku import releases
from portal.apiauth import actor
from projects import access
from projects.models import Role

router = Router(tags=["continuous deployment"])


class WebhookIn(Schema):
    name: str = Field(..., max_length=100)
    url: str = Field(..., max_length=1000)
    format: str = "slack"
    secret: str = Field("", max_length=200)
    events: list[str] = []


class WebhookCreated(Schema):
    id: int
    name: str
    url: str
    format: str
    events: list[str]
    secret: str


class DeliveryOut(Schema):
    id: int
    event: str
    attempt: int
    state: str
    status_code: int | None
    error: str
    duration_ms: int | None
    created_at: datetime
    sent_at: datetime | None


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    format: str
    events: list[str]
    active: bool
    deliveries: list[DeliveryOut]


class ReleaseRollbackIn(Schema):
    note: str = Field("", max_length=500)
    ci_override_reason: str = Field("", max_length=500)


@router.post("/apps/{app}/webhooks", response={201: WebhookCreated})
def create_webhook(request: HttpRequest, app: str, body: WebhookIn):
    found = access.app_for(actor(request), app)
    webhook, secret = notify.webhook_create(actor=actor(request), app=found, **body.dict())
    return Status(
        201, {**{f: getattr(webhook, f) for f in ("id", "name", "url", "format", "events")}, "secret": secret}
    )


@router.get("/apps/{app}/webhooks", response=list[WebhookOut])
def list_webhooks(request: HttpRequest, app: str):
    found = access.app_for(actor(request), app, Role.ADMIN, action="see notification webhooks")
    return [
        {
            **{f: getattr(webhook, f) for f in ("id", "name", "url", "format", "events", "active")},
            "deliveries": list(webhook.deliveries.order_by("-id")[:20]),
        }
        for webhook in found.webhooks.all()
    ]


@router.post("/deployments/{deployment_id}/release-rollback", response={202: DeploymentBrief})
def release_rollback(request: HttpRequest, deployment_id: int, body: ReleaseRollbackIn):
    deployment, _ = selectors.deployment_for(actor(request), deployment_id)
    created = releases.release_rollback_request(actor=actor(request), deployment=deployment, **body.dict())
    return Status(202, brief(created))
