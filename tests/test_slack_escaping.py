"""Slack webhooks: what users and remotes wrote can neither mention a channel nor disguise a link.

Slack reads `<...>` as a mention or a link and `&` as the start of an entity, so those three are
sent as `&lt;`, `&gt;` and `&amp;` everywhere they came from a user or a remote; the top-level
`text` holds the whole sentence and the Block Kit `blocks` beside it are escaped the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployments.delivery import notify
from deployments.models import Deployment
from tests.cd_helpers import Receiver

HOSTILE = "<!channel> <https://evil|Approve> & more"
ESCAPED = "&lt;!channel&gt; &lt;https://evil|Approve&gt; &amp; more"
# `:` and `//` cannot be in a git ref; `<`, `>`, `&`, `|` and `!` can.
HOSTILE_REF = "<!channel>&<evil.example|Approve>"
ESCAPED_REF = "&lt;!channel&gt;&amp;&lt;evil.example|Approve&gt;"
SITE = "https://bartender.example"


@pytest.fixture(autouse=True)
def loopback_allowed(settings) -> None:
    """The receiver listens on loopback, which webhooks may reach only when allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.SITE_URL = SITE


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


def add_webhook(api, url: str, **fields) -> None:
    response = api("app_admin").post("/api/apps/shop/webhooks", {"name": "team", "url": url, **fields})
    assert response.status_code == 201, response.content


def block_texts(payload: dict) -> list[str]:
    """Every text a Slack client shows of the blocks: the section's and each context element's."""
    texts = []
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts += [element["text"] for element in block["elements"]]
    return texts


def our_link(pk: int) -> str:
    return f"<{SITE}/deployments/{pk}/|Deployment #{pk}>"


def without_our_link(text: str, pk: int) -> str:
    assert text.endswith(" " + our_link(pk)), text
    return text.removesuffix(" " + our_link(pk))


def test_a_hostile_lock_reason_neither_pings_the_channel_nor_disguises_a_link(app, api, worker, receiver):
    add_webhook(api, receiver.url, events=["target.locked"])

    worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/lock", {"reason": HOSTILE}))

    [payload] = [r["json"] for r in receiver.received]
    assert payload["text"] == f"Shop: Staging was locked by deployer: {ESCAPED}"
    section, *context = block_texts(payload)
    assert section == payload["text"]
    assert context[:2] == ["App: *Shop*", "Target: *Staging*"]
    assert not any(char in text for text in block_texts(payload) for char in "<>")


def test_a_hostile_commit_message_and_ref_are_escaped_and_only_our_link_is_markup(app, api, worker, receiver, repo):
    add_webhook(api, receiver.url)
    repo.branch(HOSTILE_REF)
    repo.checkout(HOSTILE_REF)
    sha = repo.commit(HOSTILE, {"app.txt": "hostile\n"})
    repo.checkout("main")

    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": HOSTILE_REF}))

    assert response.status_code == 202, response.content
    deployment = Deployment.objects.get(pk=response.json()["id"])
    assert (deployment.status, deployment.sha) == ("succeeded", sha)
    payloads = [r["json"] for r in receiver.received]
    assert [list(payload) for payload in payloads] == [["text", "blocks"]] * 2
    for payload, verb in zip(payloads, ("started", "succeeded"), strict=True):
        sentence = without_our_link(payload["text"], deployment.pk)
        assert sentence == (
            f"Shop: deployment #{deployment.pk} of {sha[:7]} to Staging {verb} (deploy, by deployer)."
            f' Ref {ESCAPED_REF}. Commit "{ESCAPED}".'
        )
        assert "<" not in sentence and ">" not in sentence
        section, *context = block_texts(payload)
        assert section == payload["text"]
        assert context == ["App: *Shop*", "Target: *Staging*", f"Commit: *{sha[:7]}*"]


def test_a_remote_s_refusal_is_escaped_in_the_failure_sentence(app, api, worker, receiver):
    add_webhook(api, receiver.url, events=["deployment.failed"])
    add_webhook(api, receiver.url, format="json", events=["deployment.failed"])
    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"}))
    deployment = Deployment.objects.get(pk=response.json()["id"])
    # What a remote said about a push it refused ends up in the reason, word for word.
    refusal = f"The remote refused the push: {HOSTILE}."
    Deployment.objects.filter(pk=deployment.pk).update(status="failed", reason=refusal)
    deployment.refresh_from_db()

    worker(lambda: notify.deployment_event(deployment, "deployment.failed"))

    slack, signed = sorted((r["json"] for r in receiver.received), key=lambda payload: "event" in payload)
    sentence = without_our_link(slack["text"], deployment.pk)
    assert sentence.startswith(f"Shop: deployment #{deployment.pk} of {deployment.short_sha} to Staging failed")
    assert sentence.endswith(f" The remote refused the push: {ESCAPED}.")
    assert "<" not in sentence and ">" not in sentence
    assert block_texts(slack)[0] == slack["text"]
    # Only Slack reads Slack's markup: the signed JSON keeps what was said as it was said.
    assert signed["text"].endswith(f"{refusal} {SITE}/deployments/{deployment.pk}/")
    assert signed["deployment"]["reason"] == refusal


def test_ampersands_already_looking_like_entities_are_escaped_again(app, api, worker, receiver):
    add_webhook(api, receiver.url, events=["target.locked"])

    worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/lock", {"reason": "R&amp;D &lt;b&gt;"}))

    [payload] = [r["json"] for r in receiver.received]
    assert payload["text"] == "Shop: Staging was locked by deployer: R&amp;amp;D &amp;lt;b&amp;gt;"
