"""Outgoing notifications: per-app webhooks (Slack-compatible or signed JSON) and failure emails.

Each delivery is its own task with a short timeout, so a dead endpoint costs a worker at most
a few seconds and never touches a deployment. A failed delivery is retried as a new delivery
row due after a growing pause; the minute schedule enqueues deliveries that are due.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from deployments import queue
from deployments.models import Delivery, Deployment, Status, Webhook
from portal import crypto, outbound
from portal.actor import Actor
from portal.audit import events as audit
from portal.errors import BadRequest
from projects import access, mirror
from projects.models import App, Lock, Role
from projects.validators import url_problem

if TYPE_CHECKING:
    from django.db.models import QuerySet

log = logging.getLogger("bartender.notify")

EVENTS = ("deployment.started", "deployment.succeeded", "deployment.failed", "deployment.unhealthy", "target.locked",
          "deployment.approval_requested", "deployment.approval_override")
TIMEOUT = 5
_ANSWER_KEPT = 1024  # bytes of an endpoint's answer read; nothing uses them
MAX_TRIES = 5
FIRST_PAUSE = 30  # seconds before the second try; doubled for each later one
_STUCK_AFTER = timedelta(minutes=2)


class DeliveryError(Exception):
    """The endpoint could not be reached or answered with an error; the message says which."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status when the endpoint answered, a 3xx included


def webhook_create(
    *, actor: Actor, app: App, name: str, url: str, format: str = Webhook.Format.SLACK, secret: str = "",
    events: list[str] | None = None,
) -> tuple[Webhook, str]:  # fmt: skip
    """Add an outgoing webhook; returns it and its signing secret (generated when not given)."""
    import secrets as random

    access.require(actor, app, Role.ADMIN, action="add notification webhooks")
    # The repository URL rules, narrowed to http(s): https anywhere, http to loopback only.
    if not url.lower().startswith(("https://", "http://")) or url_problem(url) or len(url) > 1000:
        raise BadRequest("url: must be an https URL (plain http only to a loopback host).")
    if problem := outbound.refusal(url):  # checked again at each send: names can resolve anew
        raise BadRequest(f"url: {problem}.")
    if format not in Webhook.Format.values:
        raise BadRequest(f"format: must be one of {', '.join(Webhook.Format.values)}.")
    events = list(events or [])
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise BadRequest(f"events: unknown {', '.join(unknown)}; choose from {', '.join(EVENTS)}.")
    if not name.strip():
        raise BadRequest("name: give the webhook a name.")
    secret = secret or random.token_urlsafe(32)
    with transaction.atomic():
        webhook = Webhook.objects.create(
            app=app, name=name.strip()[:100], url=url, format=format, events=events,
            secret_encrypted=crypto.encrypt(secret),
        )  # fmt: skip
        audit.record(actor=actor, action="app.changed", app=app, detail=f"Added notification webhook '{webhook.name}'.")
    return webhook, secret


TEST_EVENT = "test"


def webhook_test(*, actor: Actor, app: App, webhook_id: int) -> Delivery:
    """Send one test message to a webhook of `app` now (the admin waits for the answer); the
    delivery log keeps it like any other, and a failed test is not retried."""
    access.require(actor, app, Role.ADMIN, action="test notification webhooks")
    webhook = app.webhooks.filter(pk=webhook_id).first()
    if webhook is None:
        raise Http404("No such webhook.")
    now = timezone.now()
    text = f"{app.name}: a test message from Bartender, sent by {actor.name}. Deployments will be told here."
    if webhook.format == Webhook.Format.SLACK:
        payload = _slack(text)
    else:
        payload = {"event": TEST_EVENT, "app": app.slug, "target": "", "at": now.isoformat(), "text": text}
    delivery = Delivery.objects.create(webhook=webhook, event=TEST_EVENT, payload=payload, due_at=now)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


# Events -------------------------------------------------------------------------------------


def deployment_event(deployment: Deployment, event: str, *, said: str = "") -> list[Delivery]:
    """`said`: a sentence more, after the reason (why a deployment is unhealthy, what follows)."""
    target = deployment.target
    verb = {
        "deployment.started": "started",
        "deployment.succeeded": "succeeded",
        "deployment.failed": "failed",
        "deployment.unhealthy": "is unhealthy",
        "deployment.approval_requested": "waits for approval",
        "deployment.approval_override": "skipped its approval",
    }[event]
    head = (
        f"{deployment.app.name}: deployment #{deployment.pk} of {deployment.short_sha} to {target.name} {verb}"
        f" ({deployment.kind}, by {deployment.requested_by_name})."
    )
    reason = f" {deployment.reason}" if event == "deployment.failed" and deployment.reason else ""
    reason += f" {said}" if said else ""
    url = _url(f"/deployments/{deployment.pk}/")
    data = {
        "deployment": {
            "id": deployment.pk,
            "sha": deployment.sha,
            "ref": deployment.ref,
            "kind": deployment.kind,
            "status": deployment.status,
            "requested_by": deployment.requested_by_name,
            "reason": deployment.reason,
            "health": deployment.health,
            "url": url,
        },
    }

    def slack() -> dict:
        # Slack's sentence also names the ref and the commit: chosen by users, so escaped too.
        said = head
        if deployment.ref and not deployment.sha.startswith(deployment.ref.lower()):
            said += f" Ref {deployment.ref}."
        if subject := _subject(deployment):
            said += f' Commit "{subject}".'
        facts = [("App", deployment.app.name), ("Target", target.name), ("Commit", deployment.short_sha)]
        return _slack(said + reason, link=(url, f"Deployment #{deployment.pk}"), facts=facts)

    return emit(app=deployment.app, event=event, text=_with_link(head + reason, url), target=target.slug, data=data,
                slack=slack)  # fmt: skip


def target_locked(lock: Lock) -> list[Delivery]:
    target = lock.target
    text = f"{target.app.name}: {target.name} was locked by {lock.by}: {lock.reason}"
    data = {"lock": {"reason": lock.reason, "by": lock.by, "until": lock.until.isoformat() if lock.until else None}}
    facts = [("App", target.app.name), ("Target", target.name)]
    if target.live_sha:
        facts.append(("Live", target.live_sha[:7]))
    return emit(app=target.app, event="target.locked", text=text, target=target.slug, data=data,
                slack=lambda: _slack(text, facts=facts))  # fmt: skip


def _url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path if settings.SITE_URL else ""


def _with_link(text: str, url: str) -> str:
    return f"{text} {url}" if url else text


def _subject(deployment: Deployment) -> str:
    """The deployed commit's subject, when this machine's mirror has it (best effort)."""
    try:
        found = mirror.commit(deployment.app, deployment.sha) if mirror.exists(deployment.app) else None
    except Exception:  # a notification never fails for want of a commit message
        log.warning("no commit message for deployment %s", deployment.pk, exc_info=True)
        return ""
    return found.message.strip()[:_SUBJECT_KEPT] if found else ""


def emit(
    *, app: App, event: str, text: str, target: str = "", data: dict | None = None,
    slack: Callable[[], dict] | None = None,
) -> list[Delivery]:  # fmt: skip
    """One delivery per subscribed webhook of `app`, each enqueued as its own task. `text` is the
    plain sentence (JSON webhooks); Slack webhooks get what `slack` makes (called once, and only
    when one listens: it may read the commit), or `text` escaped for Slack."""
    now = timezone.now()
    made = []
    slack_payload: dict | None = None
    for webhook in app.webhooks.filter(active=True):
        if webhook.events and event not in webhook.events:
            continue
        if webhook.format == Webhook.Format.SLACK:
            if slack_payload is None:
                slack_payload = slack() if slack else _slack(text)
            payload = slack_payload
        else:
            payload = {"event": event, "app": app.slug, "target": target, "at": now.isoformat(), "text": text,
                       **(data or {})}  # fmt: skip
        made.append(Delivery.objects.create(webhook=webhook, event=event, payload=payload, due_at=now))
    for delivery in made:
        queue.deliver(delivery.pk, timeout=TIMEOUT * 3)
    return made


# Slack --------------------------------------------------------------------------------------

_SUBJECT_KEPT = 200
_SECTION_MAX = 3000  # characters of a Block Kit text object


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities, so text from users or remotes can neither
    mention (`<!channel>`) nor disguise a link (`<https://evil|Approve>`). Nothing else is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(sentence: str, *, link: tuple[str, str] = ("", ""), facts: Sequence[tuple[str, str]] = ()) -> dict:
    """Slack's incoming-webhook JSON: `text` is the whole sentence, escaped, with our own link
    (the only markup not escaped: its URL is ours); `blocks` say the same, plus a context line."""
    url, label = link
    text = slack_escape(sentence)
    if url:
        text += f" <{_slack_url(url)}|{slack_escape(label)}>"
    context = [{"type": "mrkdwn", "text": f"{name}: *{_fit(slack_escape(value), 200)}*"} for name, value in facts]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, _SECTION_MAX)}}]
    if context:
        blocks.append({"type": "context", "elements": context[:10]})
    return {"text": text, "blocks": blocks}


def _slack_url(url: str) -> str:
    # Ours (SITE_URL), but a stray `|` or `>` would still end the link early.
    return slack_escape(url).replace("|", "%7C")


def _fit(escaped: str, limit: int) -> str:
    """At most `limit` characters, never cutting an entity or a link in two."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    for opener, closer in (("&", ";"), ("<", ">")):
        at = cut.rfind(opener)
        if at != -1 and closer not in cut[at:]:
            cut = cut[:at]
    return cut + "…"


# Delivering ---------------------------------------------------------------------------------


def deliver(delivery_id: int) -> str | None:
    """Send one due delivery once (a conditional claim); schedule the next try when it fails."""
    now = timezone.now()
    if not Delivery.objects.filter(pk=delivery_id, state=Delivery.State.PENDING, due_at__lte=now).update(
        state=Delivery.State.SENDING, sent_at=now
    ):
        return None
    delivery = Delivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if webhook.format == Webhook.Format.JSON:
        secret = crypto.decrypt(webhook.secret_encrypted)
        headers["X-Bartender-Event"] = delivery.event
        headers["X-Bartender-Delivery"] = str(delivery.pk)
        headers["X-Bartender-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    started = time.monotonic()
    code, error = None, ""
    try:
        code = post(webhook.url, body, headers)
    except DeliveryError as problem:
        error = str(problem)
        code = problem.status
    elapsed = int((time.monotonic() - started) * 1000)
    ok = code is not None and 200 <= code < 300 and not error
    Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(
        state=Delivery.State.DELIVERED if ok else Delivery.State.FAILED,
        status_code=code,
        error=error[:300],
        duration_ms=elapsed,
    )
    if not ok and delivery.event != TEST_EVENT:  # a test is answered at once, not retried
        retry(delivery)
    return "delivered" if ok else error or f"HTTP {code}"


def retry(delivery: Delivery) -> Delivery | None:
    if delivery.attempt >= MAX_TRIES:
        log.warning("delivery %s to %s gave up after %s tries", delivery.pk, delivery.webhook, delivery.attempt)
        return None
    pause = FIRST_PAUSE * 2 ** (delivery.attempt - 1)
    return Delivery.objects.create(
        webhook=delivery.webhook,
        event=delivery.event,
        payload=delivery.payload,
        attempt=delivery.attempt + 1,
        due_at=timezone.now() + timedelta(seconds=pause),
    )


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST exactly `body` (the bytes signed); the 2xx status, or DeliveryError (with `status`
    when the server answered, a 3xx included: redirects are not followed). The outgoing-HTTP rule
    is applied again here, at the connection, since a name may resolve elsewhere than at save."""
    try:
        answer = outbound.request(
            "POST", url, about="the endpoint", headers=headers, content=body, timeout=TIMEOUT, max_body=_ANSWER_KEPT,
            public_only=True,
        )  # fmt: skip
    except outbound.OutboundError as problem:
        raise DeliveryError(str(problem), status=problem.status) from None
    if not answer.ok:
        raise DeliveryError(f"The endpoint answered HTTP {answer.status}.", status=answer.status)
    return answer.status


def deliver_due() -> int:
    """Enqueue deliveries whose time has come; give up on sends whose worker died."""
    now = timezone.now()
    for stuck in Delivery.objects.filter(state=Delivery.State.SENDING, sent_at__lt=now - _STUCK_AFTER):
        if Delivery.objects.filter(pk=stuck.pk, state=Delivery.State.SENDING).update(
            state=Delivery.State.FAILED, error="The worker sending it was lost."
        ):
            retry(stuck)
    due = list(Delivery.objects.filter(state=Delivery.State.PENDING, due_at__lte=now).values_list("pk", flat=True))
    for delivery_id in due:
        queue.deliver(delivery_id, timeout=TIMEOUT * 3)
    return len(due)


def deliveries_for(app: App, *, limit: int = 50) -> QuerySet[Delivery]:
    return Delivery.objects.filter(webhook__app=app).select_related("webhook").order_by("-id")[:limit]


# Email --------------------------------------------------------------------------------------


def email_failure(deployment: Deployment) -> bool:
    """Tell the person who asked for a deployment that it failed (nobody to tell: automatic)."""
    user = deployment.requested_by
    if deployment.status != Status.FAILED or user is None or not user.email:
        return False
    link = _url(f"/deployments/{deployment.pk}/")
    body = (
        f"Your deployment #{deployment.pk} of {deployment.short_sha} ({deployment.ref}) to "
        f"{deployment.target.name} ({deployment.app.name}) failed.\n\n{deployment.reason}\n"
        + (f"\nThe log: {link}\n" if link else "")
    )
    send_mail(
        subject=f"Deployment #{deployment.pk} to {deployment.target.name} failed",
        message=body,
        from_email=None,
        recipient_list=[user.email],
    )
    return True
