"""API endpoints for deployments, their logs, cancel and locks."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest
from ninja import Field, Header, Query, Router, Schema, Status

from deployments import approval, locks, selectors, services
from deployments.models import Deployment, LogLine
from portal.apiauth import actor
from portal.paging import MAX_PAGE
from projects import access
from projects.api.apps import LockOut

router = Router(tags=["deployments"])
PAGE_SIZE = 50


class DeployIn(Schema):
    ref: str = Field(..., max_length=1000)
    note: str = Field("", max_length=500)
    ci_override_reason: str = ""
    approval_override_reason: str = Field("", max_length=1000)
    window_override_reason: str = Field("", max_length=1000)


class DeploymentBrief(Schema):
    id: int
    status: str
    sha: str
    target: str
    app: str
    kind: str


class DeploymentOut(DeploymentBrief):
    ref: str
    requested_by: str
    note: str
    reason: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log: str
    previous_sha: str | None
    approved_by: str | None
    approval_expires_at: datetime | None
    health: str | None


class LineOut(Schema):
    n: int
    text: str


class LogOut(Schema):
    lines: list[LineOut]
    status: str


class RejectIn(Schema):
    reason: str = Field(..., max_length=500)


class LockIn(Schema):
    reason: str
    until: datetime | None = None


def brief(deployment: Deployment) -> dict:
    return {
        "id": deployment.pk,
        "status": deployment.status,
        "sha": deployment.sha,
        "target": deployment.target.slug,
        "app": deployment.app.slug,
        "kind": deployment.kind,
    }


def full(deployment: Deployment) -> dict:
    lines = deployment.lines.values_list("text", flat=True)
    return {
        **brief(deployment),
        "ref": deployment.ref,
        "requested_by": deployment.requested_by_name,
        "note": deployment.note,
        "reason": deployment.reason,
        "created_at": deployment.created_at,
        "started_at": deployment.started_at,
        "finished_at": deployment.finished_at,
        "log": "\n".join(lines),
        # What was live when it started (the claim sets it); null before it starts or when nothing was.
        "previous_sha": deployment.previous_sha or None,
        # Two-person approval: who approved (null: nobody yet, or none was needed) and the deadline.
        "approved_by": deployment.approved_by or None,
        "approval_expires_at": deployment.approval_expires_at,
        # Verified deploys: null (no check), checking, healthy or unhealthy.
        "health": deployment.health,
    }


def _deployment(request: HttpRequest, deployment_id: int) -> Deployment:
    deployment, _ = selectors.deployment_for(actor(request), deployment_id)
    return deployment


@router.post("/apps/{app}/targets/{target}/deployments", response={202: DeploymentBrief})
def request_deployment(
    request: HttpRequest,
    app: str,
    target: str,
    body: DeployIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    found = access.target_for(actor(request), app, target)
    deployment = services.deployment_request(
        actor=actor(request),
        target=found,
        ref=body.ref,
        note=body.note,
        idempotency_key=idempotency_key,
        ci_override_reason=body.ci_override_reason,
        approval_override_reason=body.approval_override_reason,
        window_override_reason=body.window_override_reason,
    )
    return Status(202, brief(deployment))


@router.get("/apps/{app}/targets/{target}/deployments", response=list[DeploymentBrief])
def list_deployments(request: HttpRequest, app: str, target: str, page: int = Query(1, ge=1, le=MAX_PAGE)):
    found = access.target_for(actor(request), app, target)
    start = (page - 1) * PAGE_SIZE
    rows = found.deployments.select_related("app", "target").order_by("-id")[start : start + PAGE_SIZE]
    return [brief(d) for d in rows]


@router.get("/deployments/{deployment_id}", response=DeploymentOut)
def get_deployment(request: HttpRequest, deployment_id: int):
    return full(_deployment(request, deployment_id))


@router.get("/deployments/{deployment_id}/log", response=LogOut)
def get_log(request: HttpRequest, deployment_id: int, after: int = Query(0, ge=0)):
    deployment = _deployment(request, deployment_id)
    status = Deployment.objects.filter(pk=deployment.pk).values_list("status", flat=True).first()
    lines = LogLine.objects.filter(deployment=deployment, n__gt=after).order_by("n")[:2000]
    return {"lines": [{"n": line.n, "text": line.text} for line in lines], "status": status}


@router.post("/deployments/{deployment_id}/cancel", response={202: DeploymentOut})
def cancel_deployment(request: HttpRequest, deployment_id: int):
    deployment = services.deployment_cancel(actor=actor(request), deployment=_deployment(request, deployment_id))
    return Status(202, full(deployment))


@router.post("/deployments/{deployment_id}/approve", response=DeploymentOut)
def approve_deployment(request: HttpRequest, deployment_id: int):
    """Queue a deployment that waits for approval: another user who could deploy it, not its requester."""
    return full(approval.approve(actor=actor(request), deployment=_deployment(request, deployment_id)))


@router.post("/deployments/{deployment_id}/reject", response=DeploymentOut)
def reject_deployment(request: HttpRequest, deployment_id: int, body: RejectIn):
    """Cancel a deployment that waits for approval, with the reason."""
    deployment = _deployment(request, deployment_id)
    return full(approval.reject(actor=actor(request), deployment=deployment, reason=body.reason))


@router.post("/apps/{app}/targets/{target}/lock", response={201: LockOut})
def lock(request: HttpRequest, app: str, target: str, body: LockIn):
    found = access.target_for(actor(request), app, target)
    created = locks.lock_target(actor=actor(request), target=found, reason=body.reason, until=body.until)
    until = created.until.astimezone(UTC) if created.until else None
    return Status(201, {"reason": created.reason, "by": created.by, "until": until})


@router.delete("/apps/{app}/targets/{target}/lock", response={204: None})
def unlock(request: HttpRequest, app: str, target: str):
    locks.unlock_target(actor=actor(request), target=access.target_for(actor(request), app, target))
    return Status(204, None)
