"""API endpoints for freezes: an app's (app admin) and every app's (staff)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from portal.apiauth import actor
from projects import access, freezes
from projects.models import Freeze

router = Router(tags=["freezes"])


class FreezeIn(Schema):
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(..., max_length=500)
    targets: list[str] | None = None


class FreezeOut(Schema):
    id: int
    app: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    targets: list[str]
    created_by: str


def freeze_out(freeze: Freeze) -> dict:
    return {
        "id": freeze.pk,
        "app": freeze.app.slug if freeze.app_id else None,
        "starts_at": freeze.starts_at,
        "ends_at": freeze.ends_at,
        "reason": freeze.reason,
        "targets": freeze.targets,
        "created_by": freeze.created_by,
    }


@router.post("/apps/{app}/freezes", response={201: FreezeOut})
def create_app_freeze(request: HttpRequest, app: str, body: FreezeIn):
    found = access.app_for(actor(request), app)
    return Status(201, freeze_out(freezes.freeze_create(actor=actor(request), app=found, **body.dict())))


@router.get("/apps/{app}/freezes", response=list[FreezeOut])
def list_app_freezes(request: HttpRequest, app: str):
    """The app's freezes and those of every app, not over yet, soonest first."""
    found = access.app_for(actor(request), app)
    return [freeze_out(f) for f in freezes.freeze_list(actor=actor(request), app=found)]


@router.delete("/apps/{app}/freezes/{freeze_id}", response={204: None})
def delete_app_freeze(request: HttpRequest, app: str, freeze_id: int):
    found = access.app_for(actor(request), app)
    freezes.freeze_delete(actor=actor(request), freeze_id=freeze_id, app=found)
    return Status(204, None)


@router.post("/freezes", response={201: FreezeOut})
def create_freeze(request: HttpRequest, body: FreezeIn):
    """A freeze of every app (staff)."""
    return Status(201, freeze_out(freezes.freeze_create(actor=actor(request), app=None, **body.dict())))


@router.get("/freezes", response=list[FreezeOut])
def list_freezes(request: HttpRequest):
    """Every freeze not over yet (staff)."""
    return [freeze_out(f) for f in freezes.freeze_list(actor=actor(request), app=None)]


@router.delete("/freezes/{freeze_id}", response={204: None})
def delete_freeze(request: HttpRequest, freeze_id: int):
    freezes.freeze_delete(actor=actor(request), freeze_id=freeze_id, app=None)
    return Status(204, None)
