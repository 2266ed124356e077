"""GET /api/audit: the audit trail, for staff and for app admins on their apps."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema

from portal.apiauth import actor
from portal.audit import queries as audit_log
from portal.paging import MAX_PAGE, page_ids
from projects import access

router = Router(tags=["audit"])


PAGE_SIZE = 50


class AuditOut(Schema):
    at: datetime
    actor: str
    action: str
    app: str
    target: str
    deployment: int | None
    detail: str


@router.get("/audit", response=list[AuditOut])
def list_audit(
    request: HttpRequest,
    app: str = "",
    user: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    page: int = Query(1, ge=1, le=MAX_PAGE),
):
    """Newest first. `since` and `until` are dates (YYYY-MM-DD, until inclusive) or ISO 8601 times."""
    scope = access.audit_scope(actor(request), app.strip())
    filters = audit_log.Filters.parse(
        {"app": app, "user": user, "action": action, "target": target, "since": since, "until": until}
    )
    events = audit_log.events(apps=scope, filters=filters)
    ids = page_ids(events, page=page, per_page=PAGE_SIZE)[:PAGE_SIZE]  # skips within the index
    return list(events.filter(pk__in=ids).values(*AuditOut.model_fields))
