"""Heroku's own rules: header names without case when paging, a release's eligible_for_rollback
asked before a fast rollback is queued, and app names as Heroku allows them."""

from __future__ import annotations

import socket

import pytest

from deployments.heroku import client as heroku_client
from deployments.heroku.client import Heroku
from deployments.models import Deployment, Kind
from portal import outbound
from tests.heroku_api import HEROKU_KEY


def deploy(api, worker, ref: str) -> Deployment:
    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/prod/deployments", {"ref": ref}))
    assert response.status_code == 202, response.content
    return Deployment.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("name", ["next-range", "NEXT-RANGE", "nExT-rAnGe"])
def test_paging_follows_next_range_in_any_case(heroku, name):
    heroku.next_range_header = name
    for n in range(5):
        heroku.add_release("shop-prod", f"Deploy {n:07d}")

    releases = Heroku(HEROKU_KEY, base_url=heroku.url).releases("shop-prod", page_size=2)

    assert [r.version for r in releases] == [5, 4, 3, 2, 1]


def test_paging_works_when_the_answer_holds_its_headers_in_a_plain_dict(heroku, monkeypatch):
    for n in range(5):
        heroku.add_release("shop-prod", f"Deploy {n:07d}")
    real = outbound.request

    def plain(*args, **kwargs) -> outbound.Answer:
        answer = real(*args, **kwargs)
        return outbound.Answer(answer.status, dict(answer.headers), answer.body)  # names lower-cased by httpx

    monkeypatch.setattr(heroku_client.outbound, "request", plain)

    releases = Heroku(HEROKU_KEY, base_url=heroku.url).releases("shop-prod", page_size=2)

    assert [r.version for r in releases] == [5, 4, 3, 2, 1]


def test_a_release_heroku_says_is_not_eligible_is_refused_and_nothing_is_queued(prod, api, worker, repo, heroku):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")
    heroku.releases["shop-prod"][0]["eligible_for_rollback"] = False
    before = Deployment.objects.count()

    response = worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))

    assert response.status_code == 409, response.content
    assert response.json()["detail"] == (
        f"Heroku says release v1 of shop-prod is not eligible for rollback; deploy the commit of deployment "
        f"#{first.pk} instead."
    )
    assert Deployment.objects.count() == before
    assert not Deployment.objects.filter(kind=Kind.RELEASE_ROLLBACK).exists()
    assert [method for method, path, headers in heroku.requests if method == "POST"] == []
    assert len(heroku.releases["shop-prod"]) == 2


def test_the_page_s_rollback_button_says_why_heroku_refused(prod, api, worker, repo, heroku, browser_client):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")
    heroku.releases["shop-prod"][0]["eligible_for_rollback"] = False
    browser = browser_client("deployer")
    assert "Fast rollback to v1" in browser.get(f"/deployments/{first.pk}/").content.decode()

    response = browser.post(f"/deployments/{first.pk}/release-rollback/", follow=True)

    assert response.redirect_chain[-1][0] == f"/deployments/{first.pk}/"
    assert "is not eligible for rollback" in response.content.decode()
    assert not Deployment.objects.filter(kind=Kind.RELEASE_ROLLBACK).exists()


def test_an_eligible_release_is_asked_about_then_rolled_back(prod, api, worker, repo, heroku):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")
    asked = len(heroku.requests)

    response = worker(lambda: api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {}))

    assert response.status_code == 202, response.content
    release_id = heroku.releases["shop-prod"][0]["id"]
    assert ("GET", f"/apps/shop-prod/releases/{release_id}") in [(m, p) for m, p, _ in heroku.requests[asked:]]
    assert Deployment.objects.get(pk=response.json()["id"]).status == "succeeded"


def test_an_unreachable_heroku_is_a_503_and_nothing_is_queued(prod, api, worker, repo, settings):
    first = deploy(api, worker, repo.shas[-2])
    deploy(api, worker, "main")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings.HEROKU_API_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"

    response = api("deployer").post(f"/api/deployments/{first.pk}/release-rollback", {})

    assert response.status_code == 503, response.content
    assert response.json()["detail"].startswith(
        "Heroku could not be asked whether release v1 may be rolled back to; nothing was queued. "
        "The Heroku API could not be reached"
    )
    assert not Deployment.objects.filter(kind=Kind.RELEASE_ROLLBACK).exists()


@pytest.mark.parametrize(
    "name", ["-abc", "ab", "abc-", "Abc", "a" * 31, "1abc", "ab_c", "ab.c", "abc\n", "ab c", "shöp"]
)
def test_heroku_app_names_outside_heroku_s_rule_are_refused(app, api, name):
    response = api("app_admin").post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Production", "heroku_app": name, "api_key": HEROKU_KEY}
    )

    assert response.status_code == 400, (name, response.content)
    assert response.json()["detail"].startswith("heroku_app:")


@pytest.mark.parametrize("name", ["abc", "a" * 30, "shop-prod", "shop-2", "a1b", "a--b"])
def test_heroku_app_names_within_heroku_s_rule_are_accepted(app, api, name):
    response = api("app_admin").post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Production", "heroku_app": name, "api_key": HEROKU_KEY}
    )

    assert response.status_code == 201, (name, response.content)


def test_a_target_cannot_be_changed_to_an_invalid_heroku_app_name(app, api):
    created = api("app_admin").post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Production", "heroku_app": "shop-prod"}
    )
    assert created.status_code == 201, created.content

    response = api("app_admin").call("patch", "/api/apps/shop/targets/prod", {"heroku_app": "shop-prod-"})

    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("heroku_app:")
