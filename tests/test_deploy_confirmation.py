"""The deploy confirmation (/apps/A/targets/T/deploy/): what a deploy or rollback does, the CI override,
the CSRF check, and where a refused deploy leads back to."""

from __future__ import annotations

import re

from django.test import Client

from deployments import locks
from deployments.models import Deployment
from portal.actor import Actor
from projects import mirror
from projects.models import Target
from tests.helpers import page


def test_the_rollback_confirmation_says_how_many_commits_go_back(app, deploy, browser_client, repo):
    deploy()

    html = page(browser_client("deployer"), f"/apps/shop/targets/staging/deploy/?ref={repo.shas[1]}")

    assert "goes back 3 commits" in html
    for sha in repo.shas[2:]:
        assert sha[:7] in html


def test_the_confirmation_offers_an_app_admin_the_ci_override(app, repo, browser_client):
    Target.objects.filter(slug="staging").update(require_ci=True)
    mirror.sync(app)

    body = page(browser_client("app_admin"), f"/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}")

    assert "Deploy anyway: why?" in body


def test_the_confirmation_carries_the_app_page_it_came_from(app, repo, browser_client):
    mirror.sync(app)
    came_from = "/apps/shop/?branch=main&page=2"

    body = (
        browser_client("deployer")
        .get(f"/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}", HTTP_REFERER="http://testserver" + came_from)
        .content.decode()
    )

    assert '<input type="hidden" name="next" value="/apps/shop/?branch=main&amp;page=2">' in body
    assert '<a href="/apps/shop/?branch=main&amp;page=2">Cancel</a>' in body


def test_deploying_from_the_page_needs_the_csrf_token_and_lands_on_the_deployment(app, users, repo, remote):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["deployer"])
    mirror.sync(app)
    html = page(client, "/apps/shop/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    refused = client.post("/apps/shop/targets/staging/deploy/", {"ref": repo.shas[-1]})
    assert refused.status_code == 403
    assert not Deployment.objects.exists()

    response = client.post("/apps/shop/targets/staging/deploy/", {"ref": repo.shas[-1], "csrfmiddlewaretoken": token})

    deployment = Deployment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}/"
    assert deployment.status == "queued"
    assert deployment.requested_by_name == "deployer"


def test_a_bad_ref_from_the_page_comes_back_as_a_message(app, browser_client):
    client = browser_client("deployer")
    response = client.post("/apps/shop/targets/staging/deploy/", {"ref": "no-such-ref"}, follow=True)
    assert "no-such-ref" in response.content.decode()
    assert not Deployment.objects.exists()


def test_a_refused_deploy_goes_back_to_the_page_it_came_from(app, users, repo, browser_client):
    mirror.sync(app)
    locks.lock_target(
        actor=Actor(user=users["deployer"], source="web"), target=Target.objects.get(slug="staging"), reason="Freeze"
    )
    client = browser_client("deployer")
    url = "/apps/shop/targets/staging/deploy/"
    came_from = "/apps/shop/?branch=main&page=2&q=fix"

    by_next = client.post(url, {"ref": repo.shas[-1], "next": came_from})
    by_referer = client.post(url, {"ref": repo.shas[-1]}, HTTP_REFERER="http://testserver" + came_from)
    elsewhere = client.post(url, {"ref": repo.shas[-1], "next": "https://evil.example/apps/shop/?q=x"})
    other_page = client.post(url, {"ref": repo.shas[-1]}, HTTP_REFERER="http://testserver/admin/")
    bad_ref = client.get(url + "?ref=no-such-ref", HTTP_REFERER="http://testserver" + came_from)

    assert by_next.status_code == 302 and by_next["Location"] == came_from
    assert by_referer["Location"] == came_from
    assert elsewhere["Location"] == "/apps/shop/"
    assert other_page["Location"] == "/apps/shop/"
    assert bad_ref["Location"] == came_from
