"""POST /hooks/github/{app}: GitHub webhooks, verified with the app's secret (HMAC-SHA256).

Both of GitHub's content types are accepted: `application/json`, and
`application/x-www-form-urlencoded` (GitHub's default for a new hook) whose `payload` field
holds the JSON. GitHub signs the raw body in either case, so the signature is checked on the
bytes as they arrived, before anything is parsed.

`push` fetches the mirror at once (then auto-deploy looks at the heads); `status` and
`check_run` become CI statuses; `ping` is answered with the hook's id, which GitHub shows in the
hook's delivery log. Replays change nothing: a status older than the stored one loses, and a
fetch is idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from urllib.parse import parse_qs

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deployments import queue
from portal.errors import ServiceError
from projects import ci
from projects.models import App

log = logging.getLogger("bartender.github")

# GitHub caps a delivery at 25 MB. request.body would refuse anything above
# DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) with Django's HTML 400 page, so the body is read here.
MAX_BODY = 25 * 1024 * 1024
_CHUNK = 1024 * 1024
FORM = "application/x-www-form-urlencoded"
TOO_LARGE = "The payload is larger than 25 MB, the most GitHub sends."
BAD_SIGNATURE = "The X-Hub-Signature-256 signature does not match this app's webhook secret."


class BadPayload(ValueError):
    """A signed body that is not a GitHub payload; its message is the 400's sentence."""


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    # compare_digest refuses str with non-ASCII characters (a TypeError, so a 500); a valid
    # signature is ASCII, so anything else is simply wrong, and bytes compare safely.
    if not secret or not header.isascii() or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY (never more than MAX_BODY + 1 read)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        chunk = request.read(min(_CHUNK, MAX_BODY + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > MAX_BODY else b"".join(chunks)


def parse_payload(body: bytes, content_type: str) -> dict:
    """The event's JSON object, from either content type GitHub delivers in."""
    if content_type.lower() == FORM:
        try:
            # A form body is ASCII (everything else is percent-encoded); decoding first lets
            # parse_qs return the JSON as text, non-ASCII characters included.
            fields = parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError) as error:
            raise BadPayload("The form body is not URL-encoded form data.") from error
        if not fields.get("payload"):
            raise BadPayload("payload: the form has no payload field.")
        raw: str | bytes = fields["payload"][0]
    else:
        raw = body
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise BadPayload("The payload is not JSON.") from error
    if not isinstance(payload, dict):
        raise BadPayload("The payload is not a JSON object.")
    return payload


def _when(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except (AttributeError, ValueError):
        return None


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _answer(status: int, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


def _ping(app: App, payload: dict, delivery: str) -> JsonResponse:
    hook_id = payload.get("hook_id")
    hook_id = hook_id if isinstance(hook_id, int) else None
    zen = str(payload.get("zen") or "")[:200]
    log.info("GitHub ping for %s: hook %s, delivery %s, zen %r", app.slug, hook_id, delivery[:64], zen)
    # The answer is what GitHub shows in the hook's delivery log, where its admins look.
    return _answer(200, f"Pong: Bartender's app {app.slug} accepts hook {hook_id}.", hook_id=hook_id, zen=zen)


@csrf_exempt
@require_POST
def github(request: HttpRequest, app: str) -> JsonResponse:
    # Size first, for every app name alike, so the answer says nothing about which apps exist.
    body = read_body(request)
    if body is None:
        return _answer(413, TOO_LARGE)
    found = App.objects.filter(slug=app).first()
    # An unknown app answers as a bad signature does, so the hook cannot be used to list apps.
    if found is None:
        return _answer(403, BAD_SIGNATURE)
    if not signature_ok(found.github_secret, body, request.headers.get("X-Hub-Signature-256", "")):
        return _answer(403, BAD_SIGNATURE)
    event = request.headers.get("X-GitHub-Event", "")
    try:
        payload = parse_payload(body, request.content_type or "")
    except BadPayload as error:
        return _answer(400, str(error))
    try:
        if event == "ping":
            return _ping(found, payload, request.headers.get("X-GitHub-Delivery", ""))
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
            run = _object(payload.get("check_run"))
            ci.status_record(
                app=found,
                sha=str(run.get("head_sha") or ""),
                state=ci.check_run_state(str(run.get("status") or ""), run.get("conclusion")),
                context=str(run.get("name") or "check"),
                target_url=str(run.get("details_url") or run.get("html_url") or ""),
                description=str(_object(run.get("output")).get("title") or ""),
                reported_at=_when(run.get("completed_at") or run.get("started_at")),
            )
        else:
            return _answer(202, f"The event '{event[:40]}' is not used.")
    except ServiceError as error:
        return _answer(error.status, str(error))
    queue.check_auto_deploy(found.pk)
    return _answer(201, "Recorded.")
