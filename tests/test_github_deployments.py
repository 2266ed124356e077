"""Deployments reported to GitHub (Deployments API) through a loopback server that answers as
GitHub documents it: https://docs.github.com/en/rest/deployments/deployments and .../statuses.

The app's repo_url is what git fetches, so each test clones the mirror from a local repository
first and then points repo_url at github.com: deployments of full shas the mirror holds fetch
nothing, and the reporting code reads the GitHub repository from repo_url as it would for real.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from django_q import scheduler as django_q_scheduler
from django_q.models import Schedule

from deployments.delivery import github_api
from deployments.models import Deployment, LogLine
from portal.audit.models import AuditEvent
from projects import mirror
from projects.models import App, Lock, Target
from tests.helpers import log_text, post_data, request_deployment, run_worker

TOKEN = "ghp_s3cretDeployToken0123456789abcdefXYZ"
REPO = "acme/shop"
STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


class FakeGitHub:
    """Deployments and deployment statuses, kept in memory, answered in GitHub's JSON shapes."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[dict] = []
        self.deployments: list[dict] = []
        self.statuses: dict[int, list[dict]] = {}  # oldest first
        self.fail_next = 0  # answer this many of the next requests with 500
        self._ids = iter(range(1000, 10**6))
        self._lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def states(self, deployment_id: int) -> list[str]:
        """Oldest first."""
        return [status["state"] for status in self.statuses.get(deployment_id, [])]

    def create_deployment(self, repo: str, body: dict) -> tuple[int, dict]:
        if not body.get("ref"):
            return 422, {"message": "Validation Failed", "errors": [{"field": "ref", "code": "missing_field"}]}
        number = next(self._ids)
        url = f"{self.url}/repos/{repo}/deployments/{number}"
        made = {
            "url": url, "id": number, "node_id": f"DE_{number}", "sha": body["ref"], "ref": body["ref"],
            "task": body.get("task", "deploy"), "payload": body.get("payload", {}),
            "original_environment": body.get("environment", "production"),
            "environment": body.get("environment", "production"), "description": body.get("description"),
            "creator": {"login": "bartender-bot", "id": 1, "type": "User"},
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "statuses_url": f"{url}/statuses", "repository_url": f"{self.url}/repos/{repo}",
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", body.get("environment") == "production")),
            "_repo": repo,
        }  # fmt: skip
        self.deployments.append(made)
        self.statuses[number] = []
        return 201, _public(made)

    def create_status(self, repo: str, number: int, body: dict) -> tuple[int, dict]:
        deployment = next((d for d in self.deployments if d["id"] == number and d["_repo"] == repo), None)
        if deployment is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        if body.get("state") not in STATES:
            return 422, {"message": "Validation Failed", "errors": [{"field": "state", "code": "invalid"}]}
        status = self._add_status(deployment, body["state"], body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            # What GitHub does itself: earlier successful, non-transient, non-production
            # deployments of the environment get an inactive status.
            for earlier in self.deployments:
                if (
                    earlier["id"] < number and earlier["_repo"] == repo
                    and earlier["environment"] == deployment["environment"]
                    and not earlier["transient_environment"] and not earlier["production_environment"]
                    and self.states(earlier["id"])[-1:] == ["success"]
                ):  # fmt: skip
                    self._add_status(earlier, "inactive", {})
        return 201, status

    def _add_status(self, deployment: dict, state: str, body: dict) -> dict:
        number = next(self._ids)
        status = {
            "url": f"{deployment['url']}/statuses/{number}", "id": number, "node_id": f"DES_{number}",
            "state": state, "creator": {"login": "bartender-bot", "id": 1, "type": "User"},
            "description": body.get("description", ""), "environment": deployment["environment"],
            "target_url": body.get("log_url", body.get("target_url", "")),
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "deployment_url": deployment["url"], "repository_url": deployment["repository_url"],
            "environment_url": body.get("environment_url", ""), "log_url": body.get("log_url", ""),
        }  # fmt: skip
        self.statuses[deployment["id"]].append(status)
        return status

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self) -> tuple[int, object]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                path = self.path.split("?")[0]
                fake.requests.append({"method": self.command, "path": path, "headers": dict(self.headers.items()),
                                      "body": body})  # fmt: skip
                if fake.fail_next > 0:
                    fake.fail_next -= 1
                    return 500, {"message": "Server Error"}
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
                if self.headers.get("Accept") != github_api.ACCEPT or (
                    self.headers.get("X-GitHub-Api-Version") != github_api.API_VERSION
                ):
                    return 400, {"message": "Unsupported Accept header or API version."}
                parts = path.strip("/").split("/")
                if len(parts) < 4 or parts[0] != "repos" or parts[3] != "deployments":
                    return 404, {"message": "Not Found"}
                repo = f"{parts[1]}/{parts[2]}"
                with fake._lock:
                    if len(parts) == 4 and self.command == "POST":
                        return fake.create_deployment(repo, body or {})
                    if len(parts) == 6 and parts[5] == "statuses" and parts[4].isdigit():
                        if self.command == "POST":
                            return fake.create_status(repo, int(parts[4]), body or {})
                        if self.command == "GET":
                            return 200, list(reversed(fake.statuses.get(int(parts[4]), [])))
                return 404, {"message": "Not Found"}

            def do_GET(self) -> None:
                self._send(*self._answer())

            def do_POST(self) -> None:
                self._send(*self._answer())

        return Handler


def _public(deployment: dict) -> dict:
    return {key: value for key, value in deployment.items() if not key.startswith("_")}


@pytest.fixture
def github(settings):
    with FakeGitHub(TOKEN) as fake:
        settings.GITHUB_API_URL = fake.url
        yield fake


@pytest.fixture
def on_github(app, api, github) -> App:
    """The app, its mirror cloned from the local repository, then built from github.com/acme/shop
    and given a GitHub token by its admin."""
    mirror.sync(app)
    App.objects.filter(pk=app.pk).update(repo_url=f"https://github.com/{REPO}.git")
    response = api("app_admin").put("/api/apps/shop/github-token", {"token": TOKEN})
    assert response.status_code == 204, response.content
    app.refresh_from_db()
    return app


def fetch_from(repo, app: App) -> None:
    """Fetch the mirror from the local repository once more, then point repo_url back at GitHub."""
    App.objects.filter(pk=app.pk).update(repo_url=str(repo.path))
    mirror.sync(App.objects.get(pk=app.pk))
    App.objects.filter(pk=app.pk).update(repo_url=f"https://github.com/{REPO}.git")


def deployments_on_github(github: FakeGitHub) -> list[tuple[str, list[str]]]:
    return [(d["environment"], github.states(d["id"])) for d in github.deployments]


def run_due_retries() -> None:
    """What the cluster's scheduler does once the retries' time has come, then the worker."""
    Schedule.objects.filter(func="deployments.tasks.report_to_github").update(
        next_run=timezone.now() - timedelta(seconds=1)
    )
    # The scheduler closes the database connection first, a worker's habit the test database
    # (one connection, inside the test's transaction) cannot share.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(django_q_scheduler, "close_old_django_connections", lambda: None)
        django_q_scheduler.scheduler()
    run_worker()


# Where the GitHub repository comes from ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/shop",
        "https://github.com/acme/shop.git",
        "https://github.com/acme/shop/",
        "git@github.com:acme/shop.git",
        "git@github.com:acme/shop",
        "ssh://git@github.com/acme/shop.git",
        "ssh://git@github.com/acme/shop",
    ],
)
def test_it_reads_the_repository_from_each_form_of_github_url(url):
    assert str(github_api.repository(url)) == "acme/shop"


@pytest.mark.parametrize(
    "url",
    [
        "/srv/git/shop.git",
        "https://gitlab.com/acme/shop.git",
        "https://github.com.evil.example/acme/shop.git",
        "https://github.com/acme",
        "https://github.com/acme/shop/tree/main",
        "git@github.com:acme/..",
        "http://github.com/acme/shop.git",
    ],
)
def test_other_places_are_no_github_repository(url):
    assert github_api.repository(url) is None


# Reporting ----------------------------------------------------------------------------------


def test_a_successful_deployment_is_reported_queued_in_progress_success(on_github, github, deploy, repo, caplog):
    caplog.set_level(logging.DEBUG)
    deployment = deploy(repo.shas[-1])

    assert deployment.status == "succeeded"
    created = github.requests[0]
    assert (created["method"], created["path"]) == ("POST", f"/repos/{REPO}/deployments")
    assert created["body"] == {
        "ref": repo.shas[-1], "environment": "Staging", "auto_merge": False, "required_contexts": [],
        "description": created["body"]["description"], "transient_environment": False,
        "production_environment": False,
    }  # fmt: skip
    assert deployments_on_github(github) == [("Staging", ["queued", "in_progress", "success"])]
    status_posts = [r for r in github.requests if r["path"].endswith("/statuses") and r["method"] == "POST"]
    assert status_posts[-1]["body"]["log_url"] == f"http://127.0.0.1:8000/deployments/{deployment.pk}/"
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in github.requests)
    assert all(r["headers"]["X-GitHub-Api-Version"] == "2022-11-28" for r in github.requests)
    deployment.refresh_from_db()
    assert deployment.github_deployment_id == github.deployments[0]["id"]
    # The token goes to GitHub only: not into the log, the audit, the database in the clear, or logging.
    assert TOKEN not in caplog.text
    assert TOKEN not in log_text(deployment)
    assert not AuditEvent.objects.filter(detail__contains=TOKEN).exists()
    assert not App.objects.filter(github_token_encrypted__contains=TOKEN).exists()


def test_a_queued_deployment_is_on_github_before_it_starts(
    on_github, github, users, repo, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deployment = request_deployment(users, repo.shas[-1])
    Lock.objects.create(target=deployment.target, reason="held", by="deployer")  # so it stays queued

    run_worker()

    deployment.refresh_from_db()
    assert deployment.status == "queued"
    assert deployments_on_github(github) == [("Staging", ["queued"])]


def test_a_failed_push_is_reported_as_a_failure(on_github, github, deploy, repo):
    broken = repo.commit("Breaks the build", {"BREAK": "x"})
    fetch_from(repo, on_github)

    deployment = deploy(broken)

    assert deployment.status == "failed"
    assert deployments_on_github(github) == [("Staging", ["queued", "in_progress", "failure"])]
    last = github.statuses[github.deployments[0]["id"]][-1]
    assert last["description"] == deployment.reason == "The remote refused the push: pre-receive hook declined."


def test_github_failing_neither_fails_the_deployment_and_the_report_is_retried(on_github, github, deploy, repo):
    github.fail_next = 3

    deployment = deploy(repo.shas[-1])

    assert deployment.status == "succeeded"
    assert github.deployments == []  # the three reports so far (queued, start, end) each answered 500
    assert Schedule.objects.filter(func="deployments.tasks.report_to_github").exists()

    run_due_retries()

    assert deployments_on_github(github) == [("Staging", ["queued", "in_progress", "success"])]
    deployment.refresh_from_db()
    assert deployment.status == "succeeded"
    assert not Schedule.objects.filter(func="deployments.tasks.report_to_github").exists()


def test_a_report_gives_up_after_a_bounded_number_of_tries(on_github, github, deploy, repo):
    github.fail_next = 10**6

    deployment = deploy(repo.shas[-1])
    for _ in range(github_api.MAX_TRIES + 2):
        run_due_retries()

    assert not Schedule.objects.filter(func="deployments.tasks.report_to_github").exists()
    tries = [r for r in github.requests if r["path"] == f"/repos/{REPO}/deployments"]
    # Three reports (request, start and end) each tried MAX_TRIES times, then given up.
    assert len(tries) == 3 * github_api.MAX_TRIES
    deployment.refresh_from_db()
    assert deployment.status == "succeeded"
    assert "GitHub could not be told about this deployment: GitHub answered HTTP 500" in log_text(deployment)


def test_the_replaced_deployment_becomes_inactive_once(on_github, github, deploy, repo):
    deploy(repo.shas[-2])
    deploy(repo.shas[-1])

    assert deployments_on_github(github) == [
        ("Staging", ["queued", "in_progress", "success", "inactive"]),  # GitHub's auto_inactive, not twice
        ("Staging", ["queued", "in_progress", "success"]),
    ]


def test_a_production_environment_is_made_inactive_by_bartender(on_github, github, deploy, repo):
    Target.objects.filter(app=on_github).update(protected=True)

    deploy(repo.shas[-2], role="app_admin")
    deploy(repo.shas[-1], role="app_admin")

    assert [r["body"]["production_environment"] for r in github.requests if r["path"].endswith("/deployments")] == [
        True,
        True,
    ]
    assert deployments_on_github(github) == [
        ("Staging", ["queued", "in_progress", "success", "inactive"]),
        ("Staging", ["queued", "in_progress", "success"]),
    ]


def test_a_late_report_never_takes_github_back(on_github, github, deploy, repo):
    deployment = deploy(repo.shas[-1])

    github_api.report(Deployment.objects.select_related("app", "target").get(pk=deployment.pk))

    assert deployments_on_github(github) == [("Staging", ["queued", "in_progress", "success"])]


def test_an_app_without_a_token_sends_nothing(on_github, github, deploy, repo, api):
    assert api("app_admin").put("/api/apps/shop/github-token", {"token": ""}).status_code == 204

    deployment = deploy(repo.shas[-1])

    assert deployment.status == "succeeded"
    assert github.requests == []
    assert deployment.github_deployment_id is None


def test_an_app_not_on_github_sends_nothing(app, github, deploy, repo, api):
    assert api("app_admin").put("/api/apps/shop/github-token", {"token": TOKEN}).status_code == 204

    assert deploy(repo.shas[-1]).status == "succeeded"
    assert github.requests == []


# Setting the token --------------------------------------------------------------------------


def test_the_token_is_write_only_and_audited_without_its_value(app, api):
    response = api("app_admin").put("/api/apps/shop/github-token", {"token": TOKEN})

    assert (response.status_code, response.content) == (204, b"")
    app.refresh_from_db()
    assert app.github_token == TOKEN and TOKEN not in app.github_token_encrypted
    event = AuditEvent.objects.filter(action="app.changed").latest("id")
    assert event.detail == "Set the GitHub token for deployments."
    assert TOKEN not in str(api("app_admin").get("/api/apps").content)


def test_a_deployer_may_not_set_the_token(app, api):
    assert api("deployer").put("/api/apps/shop/github-token", {"token": TOKEN}).status_code == 403
    app.refresh_from_db()
    assert app.github_token_encrypted == ""


def test_a_token_with_spaces_is_refused(app, api):
    response = api("app_admin").put("/api/apps/shop/github-token", {"token": "two words"})
    assert response.status_code == 400
    assert "token:" in response.json()["detail"]


def test_no_log_line_is_written_when_reports_succeed(on_github, github, deploy, repo):
    deployment = deploy(repo.shas[-1])
    assert not LogLine.objects.filter(deployment=deployment, text__contains="GitHub").exists()


def test_staff_set_the_token_in_the_admin_as_a_write_only_secret(app, staff):
    url = f"/admin/projects/app/{app.pk}/change/"

    response = staff.post(url, post_data(staff.get(url), github_token=TOKEN))

    assert response.status_code == 302
    app.refresh_from_db()
    assert app.github_token == TOKEN
    assert AuditEvent.objects.filter(action="app.changed").latest("id").detail == "Changed shop: github_token replaced."
    assert TOKEN not in staff.get(url).content.decode()


def test_two_reports_racing_to_create_it_leave_one_github_deployment_reported(
    on_github, github, users, repo, monkeypatch
):
    deployment = request_deployment(users, repo.shas[-1])
    create = github_api.GitHub.create_deployment

    def another_report_wins_meanwhile(self, *args, **kwargs) -> int:
        won = create(self, *args, **kwargs)
        Deployment.objects.filter(pk=deployment.pk).update(github_deployment_id=won)
        return create(self, *args, **kwargs)

    monkeypatch.setattr(github_api.GitHub, "create_deployment", another_report_wins_meanwhile)
    github_api.report(Deployment.objects.select_related("app", "target").get(pk=deployment.pk))

    assert deployments_on_github(github) == [
        ("Staging", ["queued"]),
        ("Staging", ["inactive"]),  # the spare one, never left pending
    ]
    assert Deployment.objects.get(pk=deployment.pk).github_deployment_id == github.deployments[0]["id"]
