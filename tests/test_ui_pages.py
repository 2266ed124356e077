"""What the pages say and weigh: the budget, the live endpoints, search, and why a button is disabled."""

from __future__ import annotations

from deployments import locks, services
from deployments.models import Deployment, LogLine
from portal.actor import Actor
from projects import mirror
from projects.models import Access, CommitStatus, Role, Target


def html(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def request_deploy(users, ref: str = "main") -> Deployment:
    target = Target.objects.get(slug="staging")
    return services.deployment_request(actor=Actor(user=users["deployer"], source="web"), target=target, ref=ref)


def test_the_app_page_of_fifty_commits_weighs_under_150_kb(app, users, repo, remote, browser_client):
    for n in range(55):
        repo.commit(f"A fairly descriptive commit message for change number {n}", {"f.txt": str(n)})
    Target.objects.create(app=app, slug="production", name="Production", remote_url=str(remote), protected=True)
    mirror.sync(app)

    body = html(browser_client("app_admin"), "/apps/shop/")

    assert body.count('class="sha"') == 50
    assert len(body.encode()) < 150_000, len(body.encode())


def test_the_page_makes_no_external_request(app, browser_client):
    mirror.sync(app)
    for url in ("/", "/apps/shop/", "/apps/shop/insights/"):
        body = html(browser_client("viewer"), url)
        assert "https://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert 'src="http' not in body and 'href="http' not in body


def test_search_finds_commits_by_sha_message_or_author(app, repo, browser_client):
    special = repo.commit("Fix the checkout button", {"b.txt": "b"}, author="Ada Lovelace")
    mirror.sync(app)
    client = browser_client("viewer")

    by_message = html(client, "/apps/shop/?q=checkout+BUTTON")
    by_author = html(client, "/apps/shop/?q=lovelace")
    by_sha = html(client, f"/apps/shop/?q={repo.shas[1][:8]}")

    assert by_message.count('class="sha"') == 1 and special[:7] in by_message
    assert by_author.count('class="sha"') == 1 and special[:7] in by_author
    assert by_sha.count('class="sha"') == 1 and repo.shas[1][:7] in by_sha
    assert "No commit matches" in html(client, "/apps/shop/?q=nothing-like-this")


def test_a_protected_target_says_why_its_button_is_disabled(app, users, remote, browser_client):
    Target.objects.create(app=app, slug="production", name="Production", remote_url=str(remote), protected=True)
    mirror.sync(app)

    body = html(browser_client("deployer"), "/apps/shop/")

    assert "Production is protected: only app admins or granted users may deploy there." in body
    assert 'disabled aria-describedby="why-' in body
    assert "Deploy to Staging</button>" in body  # the unprotected target stays open


def test_a_red_ci_status_disables_the_button_of_a_target_that_requires_ci(app, repo, browser_client):
    Target.objects.filter(slug="staging").update(require_ci=True)
    CommitStatus.objects.create(
        app=app, sha=repo.shas[-1], context="ci/tests", state="failure", reported_at="2026-01-01T00:00Z"
    )
    CommitStatus.objects.create(
        app=app, sha=repo.shas[-2], context="ci/tests", state="success", reported_at="2026-01-01T00:00Z"
    )
    mirror.sync(app)

    body = html(browser_client("deployer"), "/apps/shop/")

    newest, second = body.split('<li class="commit')[1:3]
    assert "disabled" in newest and "CI failed" in newest and "ci/tests is failure" in newest
    assert "disabled" not in second and "Deploy to Staging</button>" in second


def test_the_tail_endpoint_sends_new_lines_as_escaped_coloured_html_with_the_facts(app, users, browser_client):
    deployment = request_deploy(users)
    LogLine.objects.create(deployment=deployment, n=1, text="\x1b[32mgreen\x1b[0m <em>")
    LogLine.objects.create(deployment=deployment, n=2, text="second")

    answer = browser_client("viewer").get(f"/deployments/{deployment.pk}/tail?after=1").json()
    everything = browser_client("viewer").get(f"/deployments/{deployment.pk}/tail?after=0").json()

    assert answer["after"] == 2 and "second" in answer["html"] and "green" not in answer["html"]
    assert '<span class="a-f2">green</span> &lt;em&gt;' in everything["html"]
    assert 'id="L1"' in everything["html"] and 'href="#L1"' in everything["html"]
    assert answer["status"] == "queued" and not answer["finished"]
    assert "queued" in answer["title"] and "#" + str(deployment.pk) in answer["title"]
    assert "Status" in answer["facts"]
    assert browser_client("outsider").get(f"/deployments/{deployment.pk}/tail").status_code == 404


def test_the_deployment_page_offers_cancel_to_deployers_only(app, users, browser_client):
    deployment = request_deploy(users)

    assert "Cancel this deployment" in html(browser_client("deployer"), f"/deployments/{deployment.pk}/")
    assert "Cancel this deployment" not in html(browser_client("viewer"), f"/deployments/{deployment.pk}/")
    assert "favicon-running.svg" in html(browser_client("viewer"), f"/deployments/{deployment.pk}/")


def test_a_finished_deployment_offers_a_redeploy_and_shows_its_favicon(app, api, worker, browser_client, repo):
    response = worker(lambda: api("deployer").post("/api/apps/shop/targets/staging/deployments", {"ref": "main"}))
    pk = response.json()["id"]

    body = html(browser_client("deployer"), f"/deployments/{pk}/")

    assert f"Redeploy {repo.shas[-1][:7]} to Staging" in body
    assert "favicon-succeeded.svg" in body
    assert f"<title>✔ #{pk} succeeded" in body
    assert "Redeploy" not in html(browser_client("viewer"), f"/deployments/{pk}/")


def test_the_live_state_changes_when_a_deployment_is_queued_starts_or_ends(app, users, browser_client):
    client = browser_client("viewer")
    before = client.get("/live/state?app=shop").json()["version"]

    deployment = request_deploy(users)
    queued = client.get("/live/state?app=shop").json()["version"]
    Deployment.objects.filter(pk=deployment.pk).update(status="running")
    running = client.get("/live/state").json()["version"]
    running_again = client.get("/live/state").json()["version"]
    Deployment.objects.filter(pk=deployment.pk).update(status="succeeded")
    ended = client.get("/live/state").json()["version"]

    assert len({before, queued, running, ended}) == 4
    assert running == running_again  # nothing changed: the pages do not refetch
    outsider = browser_client("outsider")
    assert (
        outsider.get("/live/state?app=shop").json()["version"] == outsider.get("/live/state?app=none").json()["version"]
    )


def test_the_dashboard_shows_a_running_deployment_with_its_last_line_and_the_lock(app, users, browser_client):
    deployment = request_deploy(users)
    Deployment.objects.filter(pk=deployment.pk).update(status="running", started_at=deployment.created_at)
    LogLine.objects.create(deployment=deployment, n=1, text="\x1b[1m-----> Compiling assets\x1b[0m")
    locks.lock_target(
        actor=Actor(user=users["deployer"], source="web"), target=Target.objects.get(slug="staging"), reason="Freeze"
    )

    body = html(browser_client("viewer"), "/")

    assert f"#{deployment.pk} deploying" in body
    assert "-----&gt; Compiling assets" in body and "\x1b" not in body
    assert "Locked by deployer: Freeze" in body


def test_the_dashboard_filters_apps_by_name(app, users, browser_client, repo):
    other = type(app).objects.create(slug="blog", name="Blog", repo_url=str(repo.path))
    Access.objects.create(app=other, user=users["viewer"], role=Role.VIEWER)
    client = browser_client("viewer")

    assert "Blog" in html(client, "/") and "Shop" in html(client, "/")
    filtered = html(client, "/?q=sho")
    assert 'id="app-shop"' in filtered and 'id="app-blog"' not in filtered
