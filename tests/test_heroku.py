"""Heroku targets: the release a push created, fast rollback to it, and the Platform API client
against a loopback API (tests/heroku_api.py)."""

from __future__ import annotations

import pytest

from deployments.heroku.client import Heroku, HerokuError
from deployments.models import Deployment, LogLine
from portal.audit.models import AuditEvent
from projects.models import Target
from tests.cd_helpers import Banner
from tests.gitutil import remote_head
from tests.heroku_api import HEROKU_KEY, FakeHeroku


def deploy(api, worker, ref: str) -> Deployment:
    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/prod/deployments", {"ref": ref}))
    assert response.status_code == 202, response.content
    return Deployment.objects.get(pk=response.json()["id"])


def test_the_client_reads_every_page_of_releases_newest_first(heroku):
    for n in range(5):
        heroku.add_release("shop-prod", f"Deploy {n:07d}")

    releases = Heroku(HEROKU_KEY, base_url=heroku.url).releases("shop-prod", page_size=2)

    assert [r.version for r in releases] == [5, 4, 3, 2, 1]
    listing = [headers.get("Range") for method, path, headers in heroku.requests if method == "GET"]
    assert listing == [
        "version ..; order=desc, max=2",
        "version ]4..; order=desc, max=2",
        "version ]2..; order=desc, max=2",
    ]


def test_the_client_turns_401_403_and_429_into_sentences(heroku):
    heroku.add_release("shop-prod", "Deploy abcdef0")
    with pytest.raises(HerokuError, match="refused the target's API key") as refused:
        Heroku("wrong-key", base_url=heroku.url).latest_release("shop-prod")
    assert refused.value.status == 401
    heroku.forbidden.add("shop-prod")
    with pytest.raises(HerokuError, match="may not do this") as forbidden:
        Heroku(HEROKU_KEY, base_url=heroku.url).latest_release("shop-prod")
    assert forbidden.value.status == 403
    heroku.rate_limited = True
    with pytest.raises(HerokuError, match="rate limit") as limited:
        Heroku(HEROKU_KEY, base_url=heroku.url).rollback("shop-prod", "some-id")
    assert limited.value.status == 429
    assert "wrong-key" not in str(refused.value)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_the_client_never_follows_a_redirect_with_the_api_key(heroku, code):
    heroku.add_release("shop-prod", "Deploy abcdef0")
    with FakeHeroku(HEROKU_KEY) as elsewhere:
        elsewhere.add_release("shop-prod", "Deploy abcdef0")
        heroku.redirect_to, heroku.redirect_code = elsewhere.url, code
        client = Heroku(HEROKU_KEY, base_url=heroku.url)
        with pytest.raises(
            HerokuError, match=rf"answered a redirect \(HTTP {code}\); redirects are not followed"
        ) as listing:
            client.latest_release("shop-prod")
        with pytest.raises(HerokuError, match="redirects are not followed") as rollback:
            client.rollback("shop-prod", heroku.releases["shop-prod"][0]["id"])

    assert elsewhere.requests == []
    assert [method for method, path, headers in heroku.requests] == ["GET", "POST"]
    assert listing.value.status == rollback.value.status == code
    assert str(listing.value).endswith(f"It pointed to {elsewhere.url}/apps/shop-prod/releases.")
    assert len(heroku.releases["shop-prod"]) == 1


def test_an_api_url_that_does_not_speak_http_is_a_sentence_not_a_crash():
    with Banner(b"SSH-2.0-x\r\n") as ssh, pytest.raises(HerokuError, match="did not answer like an HTTP server"):
        Heroku(HEROKU_KEY, base_url=ssh.url).latest_release("shop-prod")
    assert ssh.connections == 1


def test_a_push_to_a_heroku_target_records_the_new_release(prod, api, worker, repo, browser_client):
    first = deploy(api, worker, repo.shas[-2])
    second = deploy(api, worker, "main")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert (first.heroku_release_version, second.heroku_release_version) == (1, 2)
    page = browser_client("viewer").get(f"/deployments/{second.pk}/").content.decode()
    assert "Heroku release <strong>v2</strong>" in page


def test_an_unreadable_release_never_fails_a_pushed_deployment(prod, api, worker, repo, heroku, http_git):
    heroku.rate_limited = True

    deployment = deploy(api, worker, "main")

    deployment.refresh_from_db()
    assert deployment.status == "succeeded"
    assert deployment.heroku_release_version is None
    assert remote_head(http_git.root / "shop-prod.git") == repo.shas[-1]
    lines = list(LogLine.objects.filter(deployment=deployment).values_list("text", flat=True))
    assert any("The Heroku release could not be read" in line and "rate limit" in line for line in lines)


def test_a_fast_rollback_to_an_approval_target_waits_for_a_second_person(prod, api, worker, repo, heroku, http_git):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")
    Target.objects.filter(slug="prod").update(require_approval=True)

    response = worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending_approval"
    assert Deployment.objects.get(pk=response.json()["id"]).status == "pending_approval"
    assert heroku.releases["shop-prod"][-1]["description"] != "Rollback to v1"  # Heroku was not called
    assert Target.objects.get(slug="prod").live_sha == repo.shas[-1]


def test_fast_rollback_brings_back_an_earlier_release_without_a_push(prod, api, worker, repo, heroku, http_git):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")

    response = worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))

    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "release_rollback"
    rollback = Deployment.objects.get(pk=response.json()["id"])
    assert rollback.status == "succeeded", rollback.reason
    assert rollback.sha == repo.shas[-2]
    assert rollback.heroku_release_version == 3
    assert heroku.releases["shop-prod"][-1]["description"] == "Rollback to v1"
    assert Target.objects.get(slug="prod").live_sha == repo.shas[-2]
    assert remote_head(http_git.root / "shop-prod.git") == repo.shas[-1]  # no git ref moved
    actions = list(AuditEvent.objects.filter(deployment=rollback.pk).order_by("id").values_list("action", flat=True))
    assert actions == ["deployment.requested", "deployment.started", "deployment.succeeded"]
    history = api("viewer").get("/api/apps/shop/targets/prod/deployments").json()
    assert history[0]["kind"] == "release_rollback"


def test_the_next_git_deployment_after_a_fast_rollback_force_pushes(prod, api, worker, repo, http_git):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")
    worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))
    newer = repo.commit("After the rollback", {"app.txt": "v6\n"})

    again = deploy(api, worker, newer)

    assert again.status == "succeeded", again.reason
    assert remote_head(http_git.root / "shop-prod.git") == newer


def test_a_failed_fast_rollback_says_why_and_keeps_what_is_live(prod, api, worker, repo, heroku):
    first = deploy(api, worker, repo.shas[-2])
    second = deploy(api, worker, "main")
    heroku.forbidden.add("shop-prod")

    response = worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))

    rollback = Deployment.objects.get(pk=response.json()["id"])
    assert rollback.status == "failed"
    assert "403 Forbidden" in rollback.reason
    assert Target.objects.get(slug="prod").live_sha == second.sha


def test_fast_rollback_needs_a_heroku_target_with_a_recorded_release(app, api, worker):
    deployment = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"}))
    pk = deployment.json()["id"]

    response = api("deployer").post(f"/api/deployments/{pk}/release-rollback", {})

    assert response.status_code == 400
    assert "not a Heroku target" in response.json()["detail"]
    assert api("viewer").post(f"/api/deployments/{pk}/release-rollback", {}).status_code == 403
