"""Kind, previous sha and distance are settled when a deployment starts, against what is live then."""

from __future__ import annotations

from deployments.models import Deployment
from portal.audit.models import AuditEvent
from tests.helpers import log_text, page, run_worker

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


def test_deployments_queued_behind_each_other_each_replace_the_one_before(
    app, api, repo, django_capture_on_commit_callbacks
):
    deployer = api("deployer")
    with django_capture_on_commit_callbacks(execute=True):
        ids = [deployer.post(DEPLOYS, {"ref": ref}).json()["id"] for ref in (repo.shas[-1], repo.shas[1], "main")]
    queued = [deployer.get(f"/api/deployments/{pk}").json() for pk in ids]

    run_worker()
    first, back, again = (Deployment.objects.get(pk=pk) for pk in ids)

    # Requested while nothing was live, each was forecast as a plain deploy from nothing.
    assert [(q["kind"], q["previous_sha"]) for q in queued] == [("deploy", None)] * 3
    assert all(d.status == "succeeded" for d in (first, back, again))
    assert (first.kind, first.previous_sha) == ("deploy", "")
    assert (back.kind, back.previous_sha, back.commits_back) == ("rollback", repo.shas[-1], 3)
    assert (again.kind, again.previous_sha) == ("deploy", repo.shas[1])
    assert deployer.get(f"/api/deployments/{back.pk}").json()["previous_sha"] == repo.shas[-1]
    assert deployer.get(f"/api/deployments/{first.pk}").json()["previous_sha"] is None  # nothing was live
    assert f"This is a rollback from {repo.shas[-1][:7]}, 3 commits back." in log_text(back)


def test_a_queued_deployment_says_its_kind_is_a_forecast(app, api, repo, browser_client):
    app.targets.update(live_sha=repo.shas[-1])
    pk = api("deployer").post(DEPLOYS, {"ref": repo.shas[1]}).json()["id"]  # its enqueue waits for a commit

    body = browser_client("viewer").get(f"/deployments/{pk}/").content.decode()

    assert "forecast: settled when it starts" in body
    assert repo.shas[-1][:7] in body
    requested = AuditEvent.objects.get(action="deployment.requested", deployment=pk)
    assert "rollback, 3 commits back" in requested.detail


def test_what_went_out_counts_every_commit_and_shows_the_newest_fifty(app, api, deploy, repo, browser_client):
    deploy(repo.shas[0])
    repo.commit_many([(f"Change {n}", {"many.txt": str(n)}) for n in range(56)])  # 4 + 56 = 60 after the live one

    done = deploy("main")
    deployment_page = browser_client("viewer").get(f"/deployments/{done.pk}/").content.decode()
    rollback = page(browser_client("deployer"), f"/apps/shop/targets/staging/deploy/?ref={repo.shas[0]}")
    app.targets.update(live_sha=repo.shas[0])
    forward = page(browser_client("deployer"), "/apps/shop/targets/staging/deploy/?ref=main")

    assert done.status == "succeeded"
    assert "60 commits, the newest 50 shown" in deployment_page
    assert deployment_page.count("<li><code>") >= 50
    assert "goes back 60 commits" in rollback
    assert '60 commits going out <span class="muted small">(the newest 50 shown)</span>' in forward
