"""The 3 a.m. path, server side (issue 13): which action each commit row offers per target, the
confirmation every protected action goes through, rollback from the history and the dashboard
with "lock afterwards", a failed deployment that quotes the remote's error lines, locks shown
where decisions happen, drift, and times in one zone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import locks, services
from deployments.models import Deployment, Status
from deployments.selectors import commit_rows as rows_of
from deployments.templatetags.cd import ago, when
from deployments.web import timeline
from deployments.web.pages import error_lines, is_error_line
from portal.actor import Actor
from portal.audit.models import AuditEvent
from projects import access, mirror
from projects.models import Lock, Target
from tests.gitutil import bare_remote
from tests.helpers import commit_rows, deployment_row, page, run_worker

pytestmark = pytest.mark.django_db


def buttons_by_sha(app, user) -> dict[str, list[timeline.Button]]:
    """The app page's buttons of each commit on main, as the page computes them."""
    grant = access.grant_for(user, app)
    targets = list(app.targets.all())
    rows, _ = rows_of(app, "main")
    columns = timeline.columns(app, grant, targets, [r.commit.sha for r in rows], head=mirror.heads(app)["main"])
    return {row.commit.sha: timeline.buttons(row, columns) for row in rows}


def protect_staging() -> Target:
    Target.objects.filter(slug="staging").update(protected=True)
    return Target.objects.get(slug="staging")


# Which action a row offers


def test_each_row_offers_one_action_per_target_primary_only_for_commits_newer_than_live(app, repo, users):
    mirror.sync(app)
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[2])

    found = buttons_by_sha(app, users["deployer"])

    assert all(len(made) == 1 for made in found.values())
    by_sha = {sha: made[0] for sha, made in found.items()}
    assert [by_sha[s].kind for s in repo.shas] == ["rollback", "rollback", "redeploy", "deploy", "deploy"]
    assert [by_sha[s].primary for s in repo.shas] == [False, False, False, True, True]
    assert by_sha[repo.shas[0]].label == "Roll back Staging"
    assert by_sha[repo.shas[4]].label == "Deploy to Staging"


def test_with_nothing_live_only_the_branch_head_is_the_primary_action(app, repo, users):
    mirror.sync(app)

    by_sha = {sha: made[0] for sha, made in buttons_by_sha(app, users["deployer"]).items()}

    assert [by_sha[s].primary for s in repo.shas] == [False, False, False, False, True]


def test_a_protected_targets_first_deploy_and_redeploy_go_through_the_confirmation(app, repo, users, browser_client):
    mirror.sync(app)
    protect_staging()
    client = browser_client("app_admin")

    first = commit_rows(page(client, "/apps/shop/"))[0]
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[-1])
    again = commit_rows(page(client, "/apps/shop/"))[0]

    assert f'href="/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}">Deploy to Staging…</a>' in first
    assert 'class="button primary"' in first
    assert f'href="/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}">Redeploy to Staging…</a>' in again
    assert 'type="submit"' not in first + again  # no one-click form on a protected target


def test_the_confirmation_of_a_protected_first_deploy_says_it_is_the_first(app, repo, browser_client):
    mirror.sync(app)
    protect_staging()

    body = page(browser_client("app_admin"), f"/apps/shop/targets/staging/deploy/?ref={repo.shas[-1]}")

    assert "Deploy to Staging?" in body
    assert "Nothing is live on Staging yet: this is its first deploy." in body
    assert "Staging is protected" in body


def test_a_commit_live_elsewhere_is_promoted_once_and_never_beside_a_rollback(
    app, repo, users, browser_client, tmp_path
):
    prod = Target.objects.create(
        app=app, slug="prod", name="Production", remote_url=str(bare_remote(tmp_path / "p.git")), position=1
    )
    mirror.sync(app)
    Target.objects.filter(slug="staging").update(live_sha=repo.shas[-1])
    prod.live_sha = repo.shas[2]
    prod.save(update_fields=["live_sha"])

    rows = commit_rows(page(browser_client("deployer"), "/apps/shop/"))
    live_on_prod = rows[2]  # newest first: shas[2] is the third row
    live_on_staging = rows[0]

    assert "Roll back Staging…" in live_on_prod and "Promote to Staging" not in live_on_prod
    assert live_on_prod.count("/targets/staging/deploy/") == 1
    assert "Promote to Production…" in live_on_staging
    assert live_on_staging.count("/targets/prod/deploy/") == 1
    assert "Deploy to Production" not in live_on_staging


# Deploy again, and a failure that explains itself


def test_deploy_again_is_never_offered_for_a_deployment_that_never_ran(app, repo, users, browser_client):
    mirror.sync(app)
    never_ran = deployment_row(app, users, sha=repo.shas[-1], status=Status.CANCELLED, finished_at=timezone.now())

    body = page(browser_client("deployer"), f"/deployments/{never_ran.pk}/")

    assert "again" not in body and "redeploy-link" not in body and "redeploy-button" not in body


def test_a_redeploy_from_the_deployment_page_of_a_protected_target_is_confirmed(app, deploy, browser_client):
    done = deploy()
    protect_staging()

    body = page(browser_client("app_admin"), f"/deployments/{done.pk}/")

    assert 'id="redeploy-link"' in body and "redeploy-form" not in body
    assert f"Redeploy {done.short_sha} to Staging…" in body


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (" !     Build failed: BREAK file present", True),
        ("remote:  !     Push rejected, failed to compile Python app.", True),
        ("remote: !", True),
        ("error: failed to push some refs to '/tmp/remote.git'", True),
        (" ! [remote rejected] main -> main (pre-receive hook declined)", True),
        ("remote: error: denying non-fast-forward", True),
        ("\x1b[31merror:\x1b[0m coloured", True),
        ("fatal: unable to access 'https://git.example/': timed out", True),
        ("-----> Building abc", False),
        ("Verifying deploy... done!", False),
        ("remote: no errors here: error: later in the line", False),
    ],
)
def test_a_remotes_error_lines_are_told_from_the_rest(line, error):
    assert is_error_line(line) is error


def test_a_failed_deployment_quotes_the_remotes_error_lines_with_links_and_says_what_to_do(
    app, repo, deploy, browser_client
):
    broken = repo.commit("This breaks the build", {"BREAK": "x"})
    failed = deploy(broken)
    assert failed.status == Status.FAILED
    quoted = error_lines(failed)

    body = page(browser_client("deployer"), f"/deployments/{failed.pk}/")

    assert quoted and "Build failed: BREAK file present" in quoted[0].text
    first = quoted[0].n
    assert f'<a href="#L{first}">line {first}</a>' in body
    assert f'<span class="line err" id="L{first}">' in body  # red in the log
    assert "pick another commit" in body
    assert "redeploy-link" not in body and "redeploy-button" not in body  # not "deploy it again"


def test_a_succeeded_deployment_quotes_nothing(app, deploy):
    assert error_lines(deploy()) == []


# Rollback from the history, with the lock afterwards


def test_the_history_offers_roll_back_to_here_on_earlier_successes_with_their_messages(
    app, repo, deploy, browser_client
):
    older = deploy(repo.shas[2])
    deploy(repo.shas[-1])

    as_deployer = page(browser_client("deployer"), "/apps/shop/targets/staging/")
    as_viewer = page(browser_client("viewer"), "/apps/shop/targets/staging/")

    assert as_deployer.count("Roll back to here") == 1  # not on the live one
    assert f'id="back-to-{older.pk}" href="/apps/shop/targets/staging/deploy/?ref={older.sha}"' in as_deployer
    assert mirror.commit(app, repo.shas[2]).message in as_deployer
    assert "Roll back to here" not in as_viewer


def test_the_dashboards_live_row_offers_the_rollback_to_what_was_live_before(app, repo, deploy, browser_client):
    before = deploy(repo.shas[2])
    deploy(repo.shas[-1])

    as_deployer = page(browser_client("deployer"), "/")

    assert f'href="/apps/shop/targets/staging/deploy/?ref={before.sha}">↩ Roll back Staging to' in as_deployer
    assert "Roll back Staging" not in page(browser_client("viewer"), "/")


def test_the_rollback_confirmation_offers_the_lock_on_by_default_for_protected_targets(
    app, repo, deploy, browser_client
):
    deploy()
    confirm = f"/apps/shop/targets/staging/deploy/?ref={repo.shas[1]}"
    plain = page(browser_client("app_admin"), confirm)
    protect_staging()
    protected = page(browser_client("app_admin"), confirm)

    checkbox = re.compile(r'<input type="checkbox" id="lock_after" name="lock_after" value="1"( checked)?')
    assert checkbox.search(plain).group(1) is None
    assert checkbox.search(protected).group(1) == " checked"
    assert 'name="lock_reason"' in protected


def test_a_rollback_with_lock_afterwards_runs_and_leaves_the_target_locked(
    app, repo, deploy, users, browser_client, django_capture_on_commit_callbacks
):
    deploy()
    client = browser_client("deployer")
    path = "/apps/shop/targets/staging/deploy/"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"ref": repo.shas[1], "lock_after": "1", "lock_reason": "Incident 42"})
        assert Lock.objects.count() == 0  # not yet: the rollback must not wait for its own lock
        behind = services.deployment_request(
            actor=Actor(user=users["deployer"], source="api"), target=Target.objects.get(slug="staging"), ref="main"
        )
    run_worker()

    rollback = Deployment.objects.get(pk=int(response["Location"].strip("/").split("/")[-1]))
    assert rollback.status == Status.SUCCEEDED and rollback.kind == "rollback"
    lock = Lock.objects.get(target__slug="staging")
    assert (lock.reason, lock.by) == ("Incident 42", "deployer")
    assert Deployment.objects.get(pk=behind.pk).status == Status.QUEUED  # the lock holds what came after
    assert AuditEvent.objects.filter(action="target.locked", detail__contains="Incident 42").exists()


def test_a_rollback_without_the_lock_leaves_the_target_open(app, repo, deploy, worker, browser_client):
    deploy()
    worker(lambda: browser_client("deployer").post("/apps/shop/targets/staging/deploy/", {"ref": repo.shas[1]}))

    assert not Lock.objects.exists()
    assert Deployment.objects.filter(kind="rollback", status=Status.SUCCEEDED).exists()


def test_lock_afterwards_without_a_reason_is_refused_naming_the_field(app, repo, deploy, browser_client):
    deploy()
    before = Deployment.objects.count()

    response = browser_client("deployer").post(
        "/apps/shop/targets/staging/deploy/", {"ref": repo.shas[1], "lock_after": "1", "lock_reason": "  "}
    )

    assert response.status_code == 400
    assert "lock_reason: say why Staging stays locked" in response.content.decode()
    assert Deployment.objects.count() == before and not Lock.objects.exists()


def test_a_lock_already_taken_when_the_rollback_starts_stands(app, repo, deploy, users, browser_client):
    deploy()
    staging = Target.objects.get(slug="staging")
    rollback = services.deployment_request(
        actor=Actor(user=users["deployer"], source="web"), target=staging, ref=repo.shas[1], lock_after="mine"
    )
    Deployment.objects.filter(pk=rollback.pk).update(status=Status.RUNNING)
    locks.lock_target(actor=Actor(user=users["app_admin"], source="web"), target=staging, reason="theirs")

    assert locks.lock_after_start(Deployment.objects.get(pk=rollback.pk)) is None
    assert Lock.objects.get().reason == "theirs"


# Locks where decisions happen


def test_a_locked_targets_confirmation_shows_the_lock_and_unlock_goes_back_to_it(
    app, repo, deploy, users, browser_client
):
    deploy()
    staging = Target.objects.get(slug="staging")
    until = timezone.now() + timedelta(hours=4)
    locks.lock_target(actor=Actor(user=users["app_admin"], source="web"), target=staging, reason="Freeze", until=until)
    client = browser_client("deployer")
    confirm = f"/apps/shop/targets/staging/deploy/?ref={repo.shas[1]}"

    body = page(client, confirm)
    response = client.post("/apps/shop/targets/staging/lock/", {"unlock": "1", "next": confirm})

    assert "Staging is locked" in body and "Locked by app_admin: Freeze" in body
    assert "since <time" in body and "until <time" in body
    assert 'id="unlock-button"' in body
    assert re.search(r"<button type=\"submit\" disabled aria-describedby=\"locked-why\"", body)
    assert response.status_code == 302 and response["Location"] == confirm
    assert not Lock.objects.exists()


def test_unlock_never_sends_anyone_off_the_site(app, users, browser_client):
    locks.lock_target(actor=Actor(user=users["deployer"], source="web"), target=app.targets.get(), reason="x")

    response = browser_client("deployer").post(
        "/apps/shop/targets/staging/lock/", {"unlock": "1", "next": "https://evil.example/"}
    )

    assert response["Location"] == "/apps/shop/targets/staging/"


def test_the_lock_form_sets_an_expiry(app, browser_client):
    before = timezone.now()
    client = browser_client("deployer")
    form = page(client, "/apps/shop/targets/staging/")

    client.post("/apps/shop/targets/staging/lock/", {"reason": "Maintenance", "duration": "4h"})

    assert 'name="duration"' in form and "No expiry" in form
    lock = Lock.objects.get()
    assert timedelta(hours=3, minutes=59) < lock.until - before < timedelta(hours=4, minutes=1)


def test_an_unknown_lock_duration_locks_nothing(app, browser_client):
    browser_client("deployer").post("/apps/shop/targets/staging/lock/", {"reason": "x", "duration": "forever"})

    assert not Lock.objects.exists()


# Drift


def test_each_target_shows_its_branch_and_how_far_behind_main_it_is(app, repo, deploy, browser_client):
    deploy(repo.shas[2])
    client = browser_client("viewer")

    before = page(client, "/apps/shop/")
    repo.commit("A new commit on main", {"new.txt": "1"})
    mirror.sync(app)
    after = page(client, "/apps/shop/")

    assert re.search(r"from <code>main</code> · <strong class=\"behind\">2 commits behind main</strong>", before)
    assert "3 commits behind main" in after


def test_a_commit_deployed_by_sha_from_a_feature_branch_is_shown_as_from_that_branch(app, repo, deploy, browser_client):
    repo.branch("feature/dark-mode", start=repo.shas[3])
    repo.checkout("feature/dark-mode")
    side = repo.commit("Dark mode", {"dark.css": "body{}"})
    repo.checkout("main")
    mirror.sync(app)
    deploy(side)  # by sha, as the app page's buttons do

    body = page(browser_client("viewer"), "/apps/shop/")

    assert re.search(r"from <code>feature/dark-mode</code> · <strong class=\"behind\">1 commit behind main", body)


def test_the_app_pages_live_fingerprint_changes_when_a_fetch_brings_a_commit(app, repo, browser_client):
    mirror.sync(app)
    client = browser_client("viewer")
    state = "/live/state?app=shop&lines=0&heads=1"
    before = client.get(state).json()["version"]

    repo.commit("Fetched later", {"later.txt": "1"})
    unchanged = client.get(state).json()["version"]
    mirror.sync(app)
    after = client.get(state).json()["version"]

    assert before == unchanged != after
    assert "&amp;heads=1" in page(client, "/apps/shop/")  # what the open page polls


# Time


def test_a_relative_time_says_just_now_and_carries_the_absolute_one():
    now = timezone.now()

    assert ">just now</time>" in ago(now)
    assert ">5\xa0minutes ago</time>" in ago(now - timedelta(minutes=5, seconds=3))
    assert f'title="{now:%Y-%m-%d %H:%M:%S} UTC"' in ago(now)
    assert f'datetime="{now.isoformat()}"' in ago(now)


def test_an_absolute_time_is_labelled_utc_until_the_browser_shows_local_time():
    moment = timezone.now()

    shown = when(moment)

    assert f">{moment:%Y-%m-%d %H:%M} UTC</time>" in shown and "data-when" in shown


def test_every_page_loads_the_script_that_shows_local_time(app, browser_client):
    assert "/static/time.js" in page(browser_client("viewer"), "/")
