"""The pages a team member uses: dashboard, commits with deploy buttons, deploying, the log."""

from __future__ import annotations

import re

from django.test import Client

from deployments.models import Deployment
from projects import mirror
from tests.gitutil import remote_head
from tests.helpers import wait_for


def deploy_via_api(api, worker, ref: str) -> Deployment:
    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": ref}))
    return Deployment.objects.get(pk=response.json()["id"])


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def test_the_dashboard_shows_what_is_live_and_the_last_outcome(app, api, worker, browser_client, repo):
    deploy_via_api(api, worker, "main")

    html = page(browser_client("viewer"), "/")

    assert "Shop" in html
    assert repo.shas[-1][:7] in html
    assert "succeeded" in html
    assert "Shop" not in page(browser_client("outsider"), "/")


def test_the_app_page_lists_commits_newest_first_fifty_a_page(app, browser_client, repo):
    for n in range(50):
        repo.commit(f"Feature commit {n}", {"f.txt": str(n)})
    mirror.sync(app)
    client = browser_client("viewer")

    first = page(client, "/apps/shop/")
    second = page(client, "/apps/shop/?page=2")

    first_shas = re.findall(r'<code class="sha">([0-9a-f]{7})</code>', first)
    second_shas = re.findall(r'<code class="sha">([0-9a-f]{7})</code>', second)
    newest_first = [sha[:7] for sha in reversed(repo.shas)]
    assert first_shas == newest_first[:50]
    assert second_shas == newest_first[50:]
    assert "Older" in first and "Newer" in second


def test_the_branch_selector_shows_another_branchs_commits(app, browser_client, repo):
    repo.branch("feature/x")
    repo.checkout("feature/x")
    only_on_branch = repo.commit("Only on the feature branch", {"x.txt": "x"})
    mirror.sync(app)
    client = browser_client("viewer")

    html = page(client, "/apps/shop/?branch=feature/x")

    assert only_on_branch[:7] in html
    assert only_on_branch[:7] not in page(client, "/apps/shop/")
    assert '<option value="feature/x" selected>' in html
    assert client.get("/apps/shop/?branch=nope").status_code == 404


def test_the_live_commit_is_marked_and_older_commits_offer_a_rollback(app, api, worker, browser_client, repo):
    deploy_via_api(api, worker, repo.shas[1])
    deploy_via_api(api, worker, repo.shas[3])

    html = page(browser_client("deployer"), "/apps/shop/")

    assert "live on Staging" in html
    assert "was on Staging" in html  # shas[1] was deployed before
    assert f"/apps/shop/targets/staging/deploy/?ref={repo.shas[0]}" in html  # older: rollback confirmation
    assert "Redeploy to Staging" in html
    assert "Deploy to Staging" in html  # newer commit: a plain deploy


def test_a_viewer_sees_no_deploy_buttons(app, browser_client):
    mirror.sync(app)
    html = page(browser_client("viewer"), "/apps/shop/")
    assert "Deploy to" not in html
    assert "Roll back" not in html


def test_the_rollback_confirmation_says_how_many_commits_go_back(app, api, worker, browser_client, repo):
    deploy_via_api(api, worker, "main")

    html = page(browser_client("deployer"), f"/apps/shop/targets/staging/deploy/?ref={repo.shas[1]}")

    assert "goes back 3 commits" in html
    for sha in repo.shas[2:]:
        assert sha[:7] in html


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


def test_the_deployment_page_shows_the_output_and_outcome(app, api, worker, browser_client, repo):
    deployment = deploy_via_api(api, worker, "main")

    html = page(browser_client("viewer"), f"/deployments/{deployment.pk}/")

    assert "succeeded" in html
    assert "remote: Verifying deploy... done." in html
    assert repo.shas[-1][:7] in html
    assert f'data-url="/deployments/{deployment.pk}/tail"' in html  # the page polls the log for new lines


def test_the_deployment_page_polls_the_log_through_the_session(app, api, worker, browser_client):
    deployment = deploy_via_api(api, worker, "main")
    answer = browser_client("viewer").get(f"/api/deployments/{deployment.pk}/log?after=0").json()
    assert answer["status"] == "succeeded"
    assert any("Verifying deploy" in line["text"] for line in answer["lines"])


def test_the_first_visit_fetches_the_repository_in_the_background(app, browser_client, repo):
    client = browser_client("viewer")

    first = page(client, "/apps/shop/")

    assert "Fetching the repository" in first
    wait_for(lambda: mirror.exists(app), timeout=30, what="the background clone")
    assert repo.shas[-1][:7] in page(client, "/apps/shop/")


def test_the_target_page_shows_history_with_rollback_marks(app, api, worker, browser_client, repo, remote):
    deploy_via_api(api, worker, "main")
    deploy_via_api(api, worker, repo.shas[0])

    html = page(browser_client("viewer"), "/apps/shop/targets/staging/")

    assert "rollback" in html
    assert remote_head(remote) == repo.shas[0]
    assert html.count("succeeded") >= 2
