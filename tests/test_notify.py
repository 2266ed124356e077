"""Notifications: per-app webhooks (Slack-compatible or signed JSON), retries, failure emails."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterator

import pytest
from django.core import mail
from django.utils import timezone

from deployments import tasks
from deployments.models import Delivery, Deployment
from tests.cd_helpers import Banner, Receiver, drain

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


@pytest.fixture(autouse=True)
def loopback_allowed(settings) -> None:
    """The receivers here listen on loopback, which webhooks may reach only when allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


def add_webhook(api, url: str, **fields) -> dict:
    response = api("app_admin").post("/api/apps/shop/webhooks", {"name": "team", "url": url, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def deploy(api, worker, ref: str = "main") -> Deployment:
    response = worker(lambda: api("deployer").post(DEPLOYS, {"ref": ref}))
    assert response.status_code == 202, response.content
    return Deployment.objects.get(pk=response.json()["id"])


def retry_due_deliveries(capture) -> None:
    """Let the backoff pass, then do what the minute schedule does."""
    Delivery.objects.filter(state="pending").update(due_at=timezone.now())
    with capture(execute=True):
        tasks.every_minute()
    drain(capture)


def test_a_slack_webhook_hears_of_the_start_and_success_of_a_deployment(app, api, worker, receiver):
    add_webhook(api, receiver.url)

    deployment = deploy(api, worker)

    texts = [r["json"]["text"] for r in receiver.received]
    assert [list(r["json"]) for r in receiver.received] == [["text", "blocks"]] * 2
    assert texts[0].startswith(f"Shop: deployment #{deployment.pk} of {deployment.short_sha} to Staging started")
    assert texts[1].startswith(f"Shop: deployment #{deployment.pk} of {deployment.short_sha} to Staging succeeded")
    assert list(Delivery.objects.values_list("state", "status_code")) == [("delivered", 200)] * 2


def test_a_json_webhook_is_signed_with_its_secret(app, api, worker, receiver):
    created = add_webhook(api, receiver.url, format="json", events=["deployment.succeeded"])

    deployment = deploy(api, worker)

    [request] = receiver.received
    assert request["json"]["event"] == "deployment.succeeded"
    assert request["json"]["deployment"]["id"] == deployment.pk
    assert request["json"]["deployment"]["sha"] == deployment.sha
    expected = "sha256=" + hmac.new(created["secret"].encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Bartender-Signature-256"] == expected


def test_a_failed_delivery_is_retried_as_a_new_delivery_after_a_500(
    app, api, worker, receiver, django_capture_on_commit_callbacks
):
    add_webhook(api, receiver.url, events=["deployment.started"])
    receiver.codes = [500]
    deploy(api, worker)
    first = Delivery.objects.get(attempt=1)
    assert (first.state, first.status_code) == ("failed", 500)
    retry = Delivery.objects.get(attempt=2)
    assert retry.state == "pending" and retry.due_at > timezone.now()

    retry_due_deliveries(django_capture_on_commit_callbacks)

    retry.refresh_from_db()
    assert (retry.state, retry.status_code) == ("delivered", 200)
    assert len(receiver.received) == 2
    assert receiver.received[0]["body"] == receiver.received[1]["body"]


def test_a_delivery_gives_up_after_five_tries(app, api, worker, receiver, django_capture_on_commit_callbacks):
    add_webhook(api, receiver.url, events=["deployment.started"])
    receiver.codes = [500] * 10
    deploy(api, worker)

    for _ in range(6):
        retry_due_deliveries(django_capture_on_commit_callbacks)

    assert list(Delivery.objects.order_by("attempt").values_list("attempt", "state")) == [
        (n, "failed") for n in range(1, 6)
    ]
    assert len(receiver.received) == 5


def test_a_dead_endpoint_neither_fails_nor_holds_up_a_deployment(app, api, worker, repo):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    add_webhook(api, f"http://127.0.0.1:{port}/hook")

    deployment = deploy(api, worker)
    second = deploy(api, worker, repo.shas[-2])

    assert (deployment.status, second.status) == ("succeeded", "succeeded")
    failed = Delivery.objects.filter(attempt=1)
    assert failed.count() == 4
    assert all(d.state == "failed" and "could not be reached" in d.error for d in failed)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_delivery_is_retried(app, api, worker, receiver, code):
    add_webhook(api, receiver.url, format="json", events=["deployment.started"])
    with Receiver() as elsewhere:
        receiver.codes, receiver.location = [code], elsewhere.url
        deploy(api, worker)

    assert elsewhere.received == []
    assert len(receiver.received) == 1
    first = Delivery.objects.get(attempt=1)
    assert (first.state, first.status_code) == ("failed", code)
    assert first.error == (
        f"The endpoint answered a redirect (HTTP {code}); redirects are not followed. It pointed to {elsewhere.url}."
    )
    assert Delivery.objects.get(attempt=2).state == "pending"


def test_an_endpoint_that_does_not_speak_http_fails_the_delivery_and_it_is_retried(app, api, worker):
    with Banner(b"SSH-2.0-x\r\n") as ssh:
        add_webhook(api, ssh.url + "/hook", events=["deployment.started"])
        deployment = deploy(api, worker)

    assert deployment.status == "succeeded"
    assert ssh.connections == 1
    first = Delivery.objects.get(attempt=1)
    assert (first.state, first.status_code) == ("failed", None)
    assert first.error.startswith("The endpoint did not answer like an HTTP server (")
    assert Delivery.objects.get(attempt=2).state == "pending"


def test_locking_a_target_is_announced(app, api, worker, receiver):
    add_webhook(api, receiver.url, events=["target.locked"])

    worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/lock", {"reason": "Release freeze"}))

    assert [r["json"]["text"] for r in receiver.received] == ["Shop: Staging was locked by deployer: Release freeze"]


def test_the_requester_is_emailed_when_their_deployment_fails(app, api, worker, repo, users):
    users["deployer"].email = "deployer@example.com"
    users["deployer"].save(update_fields=["email"])
    repo.commit("Breaks the build", {"BREAK": "x"})

    failed = deploy(api, worker)

    assert failed.status == "failed"
    [message] = mail.outbox
    assert message.to == ["deployer@example.com"]
    assert message.subject == f"Deployment #{failed.pk} to Staging failed"
    assert "pre-receive hook declined" in message.body


def test_a_successful_deployment_sends_no_email(app, api, worker, users):
    users["deployer"].email = "deployer@example.com"
    users["deployer"].save(update_fields=["email"])
    deploy(api, worker)
    assert mail.outbox == []


def test_app_admins_see_the_delivery_log_and_others_do_not(app, api, worker, receiver, browser_client):
    add_webhook(api, receiver.url, events=["deployment.succeeded"])
    deploy(api, worker)

    page = browser_client("app_admin").get("/apps/shop/notifications/")
    listed = api("app_admin").get("/api/apps/shop/webhooks").json()

    assert page.status_code == 200
    assert "deployment.succeeded" in page.content.decode()
    assert listed[0]["deliveries"][0]["status_code"] == 200
    assert browser_client("deployer").get("/apps/shop/notifications/").status_code == 403
    assert api("deployer").get("/api/apps/shop/webhooks").status_code == 403


def test_webhook_urls_must_be_https_or_loopback_http(app, api):
    for url in ("http://example.com/hook", "ftp://example.com", "file:///etc/passwd", "/tmp/x"):
        response = api("app_admin").post("/api/apps/shop/webhooks", {"name": "x", "url": url})
        assert response.status_code == 400, url
        assert response.json()["detail"].startswith("url:")
    assert (
        api("deployer").post("/api/apps/shop/webhooks", {"name": "x", "url": "https://hooks.example.com"}).status_code
        == 403
    )
