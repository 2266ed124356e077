"""POST /hooks/github/{app}: GitHub webhooks, verified with the app's secret (HMAC-SHA256).

`push` fetches the mirror at once (then auto-deploy looks at the heads); `status` and
`check_run` become CI statuses. Replays change nothing: a status older than the stored one
loses, and a fetch is idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deployments import queue
from portal.errors import ServiceError
from projects import ci
from projects.models import App

MAX_BODY = 5 * 1024 * 1024
BAD_SIGNATURE = "The X-Hub-Signature-256 signature does not match this app's webhook secret."


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    # compare_digest refuses str with non-ASCII characters (a TypeError, so a 500); a valid
    # signature is ASCII, so anything else is simply wrong, and bytes compare safely.
    if not secret or not header.isascii() or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def _when(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _answer(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_POST
def github(request: HttpRequest, app: str) -> JsonResponse:
    found = App.objects.filter(slug=app).first()
    # An unknown app answers as a bad signature does, so the hook cannot be used to list apps.
    if found is None:
        return _answer(403, BAD_SIGNATURE)
    if len(request.body) > MAX_BODY:
        return _answer(413, "The payload is too large.")
    if not signature_ok(found.github_secret, request.body, request.headers.get("X-Hub-Signature-256", "")):
        return _answer(403, BAD_SIGNATURE)
    event = request.headers.get("X-GitHub-Event", "")
    try:
        payload = json.loads(request.body)
    except ValueError:
        return _answer(400, "The payload is not JSON.")
    if not isinstance(payload, dict):
        return _answer(400, "The payload is not a JSON object.")
    try:
        if event == "ping":
            return _answer(200, "pong")
        if event == "push":
            queue.refresh_app(found.pk)
            return _answer(202, "The mirror is being fetched.")
        if event == "status":
            ci.status_record(
                app=found,
                sha=str(payload.get("sha") or ""),
                state=str(payload.get("state") or ""),
                context=str(payload.get("context") or "default"),
                target_url=str(payload.get("target_url") or ""),
                description=str(payload.get("description") or ""),
                reported_at=_when(payload.get("updated_at")),
            )
        elif event == "check_run":
            run = payload.get("check_run") or {}
            ci.status_record(
                app=found,
                sha=str(run.get("head_sha") or ""),
                state=ci.check_run_state(str(run.get("status") or ""), run.get("conclusion")),
                context=str(run.get("name") or "check"),
                target_url=str(run.get("details_url") or run.get("html_url") or ""),
                description=str((run.get("output") or {}).get("title") or ""),
                reported_at=_when(run.get("completed_at") or run.get("started_at")),
            )
        else:
            return _answer(202, f"The event '{event[:40]}' is not used.")
    except ServiceError as error:
        return _answer(error.status, str(error))
    queue.check_auto_deploy(found.pk)
    return _answer(201, "Recorded.")
