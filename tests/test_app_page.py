"""The app page (/apps/A/): commits newest first with search and branches, what is live where, the deploy
buttons and why one is disabled, CI chips, and what the page weighs and loads."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import timezone

from deployments.models import LogLine
from projects import mirror
from projects.models import CommitStatus, Target
from tests.helpers import commit_rows, deployment_row, page, wait_for

CSS = Path(__file__).resolve().parent.parent / "static" / "bartender.css"


def statuses(sha: str, app: str = "shop") -> str:
    return f"/api/apps/{app}/commits/{sha}/statuses"


def test_the_app_page_lists_commits_newest_first_fifty_a_page(app, browser_client, repo):
    repo.commit_many([(f"Feature commit {n}", {"f.txt": str(n)}) for n in range(50)])
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


def test_an_unknown_branch_links_back_to_the_default_branch(app, browser_client):
    mirror.sync(app)

    response = browser_client("viewer").get("/apps/shop/?branch=no-such-branch")

    assert response.status_code == 404
    assert '<a href="?branch=main">Show main</a>' in response.content.decode()


def test_search_finds_commits_by_sha_message_or_author(app, repo, browser_client):
    special = repo.commit("Fix the checkout button", {"b.txt": "b"}, author="Ada Lovelace")
    mirror.sync(app)
    client = browser_client("viewer")

    by_message = page(client, "/apps/shop/?q=checkout+BUTTON")
    by_author = page(client, "/apps/shop/?q=lovelace")
    by_sha = page(client, f"/apps/shop/?q={repo.shas[1][:8]}")

    assert by_message.count('class="sha"') == 1 and special[:7] in by_message
    assert by_author.count('class="sha"') == 1 and special[:7] in by_author
    assert by_sha.count('class="sha"') == 1 and repo.shas[1][:7] in by_sha
    assert "No commit matches" in page(client, "/apps/shop/?q=nothing-like-this")


def test_a_first_visit_with_no_clone_under_way_clones_in_the_background(app, browser_client, repo):
    client = browser_client("viewer")

    first = page(client, "/apps/shop/")

    assert "The first clone of the repository is running" in first
    wait_for(lambda: mirror.exists(app), timeout=30, what="the background clone")
    assert repo.shas[-1][:7] in page(client, "/apps/shop/")


def test_the_live_commit_is_marked_and_older_commits_offer_a_rollback(app, deploy, browser_client, repo):
    deploy(repo.shas[1])
    deploy(repo.shas[3])

    html = page(browser_client("deployer"), "/apps/shop/")

    assert "live on Staging" in html
    assert "was on Staging" in html  # shas[1] was deployed before
    assert f"/apps/shop/targets/staging/deploy/?ref={repo.shas[0]}" in html  # older: rollback confirmation
    assert "Redeploy to Staging" in html
    assert "Deploy to Staging" in html  # newer commit: a plain deploy


def test_the_live_mark_says_who_deployed_it_and_when(app, users, repo, browser_client):
    mirror.sync(app)
    deployment_row(app, users, sha=repo.shas[-1], status="succeeded", finished_at=timezone.now())
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[-1])

    newest = commit_rows(page(browser_client("viewer"), "/apps/shop/"))[0]

    assert re.search(
        r'● live on Staging<span class="who"> by deployer, '
        r'<time datetime="[^"]+" data-ago title="[^"]+ UTC">just now</time></span>',
        newest,
    )


def test_a_viewer_sees_no_deploy_buttons(app, browser_client):
    mirror.sync(app)
    html = page(browser_client("viewer"), "/apps/shop/")
    assert "Deploy to" not in html
    assert "Roll back" not in html


def test_the_app_pages_actions_have_stable_ids_and_the_refresh_is_not_announced(app, users, repo, browser_client):
    mirror.sync(app)

    body = page(browser_client("deployer"), "/apps/shop/")

    assert f'id="deploy-{repo.shas[-1][:7]}-staging"' in body
    assert f'id="deploy-{repo.shas[0][:7]}-staging"' in body
    live_note = re.search(r'<p class="live-note[^>]*>', body).group(0)
    assert "role=" not in live_note and "aria-live" not in live_note


def test_protected_and_diverged_deploys_go_through_the_confirmation(app, users, repo, remote, browser_client):
    repo.branch("side", start=repo.shas[2])
    repo.checkout("side")
    side = repo.commit("Side work", {"side.txt": "x"})
    repo.checkout("main")
    Target.objects.create(
        app=app, slug="production", name="Production", remote_url=str(remote), protected=True, live_sha=repo.shas[1]
    )
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[-2])
    mirror.sync(app)
    client = browser_client("app_admin")

    main = commit_rows(page(client, "/apps/shop/"))
    branch = commit_rows(page(client, "/apps/shop/?branch=side"))
    confirm = page(client, f"/apps/shop/targets/staging/deploy/?ref={side}")

    newest = main[0]
    assert f'href="/apps/shop/targets/production/deploy/?ref={repo.shas[-1]}">Deploy to Production…</a>' in newest
    assert 'type="submit" id="deploy-' in newest and ">Deploy to Staging</button>" in newest  # a fast-forward
    assert f'href="/apps/shop/targets/staging/deploy/?ref={side}">Deploy to Staging…</a>' in branch[0]
    assert ">Deploy to Staging</button>" not in branch[0]
    assert "Not a fast-forward" in confirm


def test_a_protected_target_says_why_its_button_is_disabled(app, users, remote, browser_client):
    Target.objects.create(app=app, slug="production", name="Production", remote_url=str(remote), protected=True)
    mirror.sync(app)

    body = page(browser_client("deployer"), "/apps/shop/")

    assert "Production is protected: only app admins or granted users may deploy there." in body
    assert 'disabled aria-describedby="why-' in body
    assert "Deploy to Staging</button>" in body  # the unprotected target stays open


def test_the_app_page_shows_a_disabled_button_saying_why_on_a_protected_target(app, browser_client):
    Target.objects.create(
        app=app, slug="production", name="Production", remote_url=str(app.targets.get().remote_url), protected=True
    )
    mirror.sync(app)
    body = browser_client("deployer").get("/apps/shop/").content.decode()

    assert "disabled" in body
    assert "Production is protected: only app admins or granted users may deploy there." in body


def test_the_app_page_shows_each_commits_ci_state_with_links(app, api, repo, browser_client):
    head = repo.shas[-1]
    api("app_admin").post(
        statuses(head), {"state": "failure", "context": "ci/tests", "target_url": "https://ci.example.com/run/7"}
    )
    mirror.sync(app)

    body = browser_client("viewer").get("/apps/shop/").content.decode()

    assert "CI failure" in body
    assert 'href="https://ci.example.com/run/7"' in body


def test_a_red_ci_status_disables_the_button_of_a_target_that_requires_ci(app, repo, browser_client):
    Target.objects.filter(slug="staging").update(require_ci=True)
    CommitStatus.objects.create(
        app=app, sha=repo.shas[-1], context="ci/tests", state="failure", reported_at="2026-01-01T00:00Z"
    )
    CommitStatus.objects.create(
        app=app, sha=repo.shas[-2], context="ci/tests", state="success", reported_at="2026-01-01T00:00Z"
    )
    mirror.sync(app)

    body = page(browser_client("deployer"), "/apps/shop/")

    newest, second = body.split('<li class="commit')[1:3]
    assert "disabled" in newest and "CI failed" in newest and "ci/tests is failure" in newest
    assert "disabled" not in second and "Deploy to Staging</button>" in second


def test_an_app_admin_gets_a_ci_override_link_and_a_deployer_is_told_what_to_do(app, repo, browser_client):
    Target.objects.filter(slug="staging").update(require_ci=True)
    CommitStatus.objects.create(app=app, sha=repo.shas[-1], context="ci", state="failure", reported_at=timezone.now())
    CommitStatus.objects.create(app=app, sha=repo.shas[-2], context="ci", state="pending", reported_at=timezone.now())
    mirror.sync(app)

    admin = commit_rows(page(browser_client("app_admin"), "/apps/shop/"))
    deployer = commit_rows(page(browser_client("deployer"), "/apps/shop/"))

    link = (
        f'href="/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}">Deploy to Staging (CI failed: CI override)…</a>'
    )
    assert link in admin[0] and "disabled" not in admin[0]
    assert "CI failed" in deployer[0] and "Ask an app admin to override, or wait for CI." in deployer[0]
    assert "CI pending" in deployer[1]
    assert "No CI status" in deployer[2]
    assert "CI is not green" not in "".join(deployer)
    assert "disabled" in deployer[0]


def test_ci_chips_are_styled_and_a_disabled_buttons_sentence_shows_on_phones():
    css = CSS.read_text()
    for state in ("success", "failure", "pending", "error"):
        assert f".ci-{state}" in css
    narrow = css[css.index("@media (max-width: 640px)") :]
    assert ".blocked .sentence { position:static" in narrow


def test_the_app_page_keeps_still_while_a_deployment_prints(app, users, repo, browser_client):
    mirror.sync(app)
    client = browser_client("viewer")
    running = deployment_row(app, users, sha=repo.shas[-1], status="running", started_at=timezone.now())
    app_before = client.get("/live/state?app=shop&lines=0&heads=1").json()["version"]
    dashboard_before = client.get("/live/state").json()["version"]
    page_version = re.search(r'data-live-version="(\w+)"', page(client, "/apps/shop/")).group(1)

    LogLine.objects.create(deployment=running, n=1, text="-----> Building")

    assert client.get("/live/state?app=shop&lines=0&heads=1").json()["version"] == app_before == page_version
    assert client.get("/live/state").json()["version"] != dashboard_before  # the dashboard shows the line


def test_the_app_page_of_fifty_commits_weighs_under_150_kb(app, users, repo, remote, browser_client):
    message = "A fairly descriptive commit message for change number {}"
    repo.commit_many([(message.format(n), {"f.txt": str(n)}) for n in range(55)])
    Target.objects.create(app=app, slug="production", name="Production", remote_url=str(remote), protected=True)
    mirror.sync(app)

    body = page(browser_client("app_admin"), "/apps/shop/")

    assert body.count('class="sha"') == 50
    assert len(body.encode()) < 150_000, len(body.encode())


def test_the_page_makes_no_external_request(app, browser_client):
    mirror.sync(app)
    for url in ("/", "/apps/shop/", "/apps/shop/insights/"):
        body = page(browser_client("viewer"), url)
        assert "https://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert 'src="http' not in body and 'href="http' not in body
