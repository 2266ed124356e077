"""GitHub's REST API for deployments: the one module that talks to it, and what it is told.

An app whose repo_url is a github.com repository and which has a GitHub token (app admins set
it, write-only) gets a GitHub Deployment for each of its deployments (environment: the target's
name) and its deployment statuses: queued, in_progress, then success, failure or error (a
cancel), and inactive once a later deployment of the target succeeded.
https://docs.github.com/en/rest/deployments/deployments and .../deployments/statuses

Reports are best effort and never touch a deployment's status. Each runs as its own task
(deployments/queue.py `report_to_github`) that brings GitHub up to date with the deployment as
it is when the task runs, reading what GitHub already holds first: tasks that run late, twice
or out of order post nothing twice and never move GitHub backwards (after "success", a late
"in_progress" is not posted). A failed call is tried again later, a bounded number of times.

GitHub marks earlier successful deployments of an environment inactive by itself
(`auto_inactive`), but only for non-production environments; the replaced deployment is
therefore also reported inactive from here, after GitHub was asked what it already holds, so
protected targets (production environments) get it too and nothing gets it twice.

Calls go through portal.outbound (redirects refused: a followed redirect would carry the token
elsewhere). GITHUB_API_URL is an operator setting, so it is not held to the public-address
rule. The token is sent only in the Authorization header, never logged or quoted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings

from deployments import queue
from deployments.log import append_last
from deployments.models import Deployment, Status
from portal import outbound

log = logging.getLogger("bartender.github")

ACCEPT = "application/vnd.github+json"
API_VERSION = "2022-11-28"
TIMEOUT = 10
MAX_TRIES = 5
FIRST_PAUSE = 30  # seconds before the second try; doubled for each later one
_PASSES = 3  # again while the deployment moves on during a report
_MAX_DESCRIPTION = 140  # GitHub's limit
_MAX_BODY = 256 * 1024

# What each end state is called on GitHub; a cancel is an "error": it did not complete.
FINAL_STATE = {Status.SUCCEEDED: "success", Status.FAILED: "failure", Status.CANCELLED: "error"}

# https://github.com/o/r(.git), git@github.com:o/r(.git), ssh://git@github.com/o/r(.git)
_REPOSITORY = re.compile(
    r"\A(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>[A-Za-z0-9._-]{1,100}?)(?:\.git)?/?\Z",
    re.IGNORECASE,
)


class GitHubError(Exception):
    """A GitHub API call failed; the message is a sentence for the log (never the token)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # GitHub's HTTP status when it answered, else None

    @property
    def worth_retrying(self) -> bool:
        """Unreachable, a server error or a rate limit (GitHub says 403 or 429); not a refusal."""
        return self.status is None or self.status >= 500 or self.status in (403, 429)


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def path(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"


def repository(repo_url: str) -> Repository | None:
    """The github.com repository `repo_url` names, or None for any other place."""
    found = _REPOSITORY.match(repo_url.strip())
    if found is None or found["name"] in (".", ".."):
        return None
    return Repository(found["owner"], found["name"])


class GitHub:
    """The calls Bartender makes, with a token that may write the repository's deployments."""

    def __init__(self, token: str, *, base_url: str = "", timeout: float = TIMEOUT) -> None:
        if not token:
            raise GitHubError("The app has no GitHub token.")
        self._token = token
        self.base_url = (base_url or settings.GITHUB_API_URL).rstrip("/")
        self.timeout = timeout

    def create_deployment(
        self, repo: Repository, *, sha: str, environment: str, production: bool, description: str
    ) -> int:
        """A new GitHub Deployment of `sha`; its id. No merge, no required contexts: Bartender
        reports a deployment it decided on, GitHub does not get to refuse or change it."""
        body = {
            "ref": sha,
            "environment": environment,
            "auto_merge": False,
            "required_contexts": [],
            "description": description[:_MAX_DESCRIPTION],
            "transient_environment": False,
            "production_environment": production,
        }
        return _id(self._call("POST", f"{repo.path}/deployments", body, expect=201), "deployment")

    def create_status(
        self, repo: Repository, deployment_id: int, *, state: str, description: str, log_url: str = ""
    ) -> int:
        body = {"state": state, "description": description[:_MAX_DESCRIPTION]}
        if log_url:
            body["log_url"] = log_url
        path = f"{repo.path}/deployments/{deployment_id}/statuses"
        return _id(self._call("POST", path, body, expect=201), "deployment status")

    def states(self, repo: Repository, deployment_id: int) -> list[str]:
        """The states GitHub holds for a deployment, newest first (GitHub lists them so)."""
        found = self._call("GET", f"{repo.path}/deployments/{deployment_id}/statuses?per_page=100", None, expect=200)
        if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
            raise GitHubError("GitHub answered the list of deployment statuses with something else.")
        return [str(item.get("state", "")) for item in found]

    def _call(self, method: str, path: str, body: dict | None, *, expect: int) -> object:
        headers = {"Accept": ACCEPT, "Authorization": f"Bearer {self._token}", "X-GitHub-Api-Version": API_VERSION}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            answer = outbound.request(
                method, self.base_url + path, about="the GitHub API", headers=headers, content=content,
                timeout=self.timeout, max_body=_MAX_BODY,
            )  # fmt: skip
        except outbound.CannotSend:  # a bad URL, or a token unfit for a header
            raise GitHubError(
                "The GitHub API request could not be made; check GITHUB_API_URL and the app's GitHub token."
            ) from None
        except outbound.OutboundError as problem:  # unreachable, not HTTP, or a redirect
            raise GitHubError(str(problem), status=problem.status) from None
        if answer.status != expect:
            raise GitHubError(f"GitHub answered HTTP {answer.status}{_message(answer.body)}.", status=answer.status)
        try:
            return json.loads(answer.body)
        except ValueError:
            raise GitHubError("GitHub answered with something that is not JSON.") from None


def _id(found: object, what: str) -> int:
    if isinstance(found, dict) and isinstance(found.get("id"), int) and not isinstance(found["id"], bool):
        return found["id"]
    raise GitHubError(f"GitHub answered the new {what} without an id.")


def _message(body: bytes) -> str:
    """GitHub's own explanation ({"message": ...}), shortened, when it gave one."""
    try:
        found = json.loads(body)
    except ValueError:
        return ""
    message = found.get("message") if isinstance(found, dict) else None
    return f" ({' '.join(str(message).split())[:200]})" if message else ""


# Reporting a deployment ---------------------------------------------------------------------


def reportable(deployment: Deployment) -> bool:
    """Whether the deployment's app is on GitHub and has a token to report with."""
    app = deployment.app
    return bool(app.github_token_encrypted) and repository(app.repo_url) is not None


def report(deployment: Deployment, *, attempt: int = 1) -> str:
    """Bring GitHub's record of `deployment` up to date; what was posted, or why nothing was.

    A failure worth retrying is tried again later (up to MAX_TRIES in all); nothing here raises.
    """
    repo = repository(deployment.app.repo_url)
    try:
        token = deployment.app.github_token
    except ValueError:  # stored with a key this installation no longer has
        log.warning("deployment %s: the app's GitHub token cannot be read", deployment.pk)
        return "not reported: the GitHub token cannot be read"
    if repo is None or not token:
        return "not reported: no GitHub repository or token"
    try:
        posted = _bring_up_to_date(GitHub(token), repo, deployment)
    except GitHubError as error:
        return _try_again(deployment, attempt, error)
    return ", ".join(posted) or "up to date"


def wanted_states(deployment: Deployment) -> list[str]:
    """The statuses GitHub should hold for the deployment as it is now, oldest first."""
    states = ["queued"]
    if deployment.started_at is not None:
        states.append("in_progress")
    if deployment.status in FINAL_STATE:
        states.append(FINAL_STATE[deployment.status])
    if deployment.status == Status.SUCCEEDED and _later_success(deployment).exists():
        states.append("inactive")
    return states


def _bring_up_to_date(github: GitHub, repo: Repository, deployment: Deployment) -> list[str]:
    posted: list[str] = []
    wanted: list[str] = []
    for _ in range(_PASSES):
        deployment.refresh_from_db(fields=["status", "reason", "started_at", "finished_at", "github_deployment_id"])
        if wanted_states(deployment) == wanted:
            break
        wanted = wanted_states(deployment)
        github_id, created = _github_deployment(github, repo, deployment)
        held = [] if created else github.states(repo, github_id)
        for state in _missing(wanted, held):
            github.create_status(
                repo, github_id, state=state, description=_description(deployment, state), log_url=_log_url(deployment)
            )
            posted.append(state)
            if state == "success" and (replaced := _replaced(deployment)) is not None:
                queue.report_to_github(replaced.pk)  # now superseded: its own report adds "inactive"
    return posted


def _missing(wanted: list[str], held: list[str]) -> list[str]:
    """What to post after what GitHub holds: nothing that would take it back to an earlier state."""
    if not held:
        return wanted
    latest = held[0]
    return wanted[wanted.index(latest) + 1 :] if latest in wanted else []


def _github_deployment(github: GitHub, repo: Repository, deployment: Deployment) -> tuple[int, bool]:
    """The GitHub deployment's id, created now if need be (then True: it holds no status yet)."""
    if deployment.github_deployment_id is not None:
        return deployment.github_deployment_id, False
    made = github.create_deployment(
        repo,
        sha=deployment.sha,
        environment=deployment.target.name,
        production=deployment.target.protected,
        description=f"Bartender deployment #{deployment.pk}: {deployment.kind} of {deployment.ref}"
        f" by {deployment.requested_by_name}.",
    )
    Deployment.objects.filter(pk=deployment.pk, github_deployment_id__isnull=True).update(github_deployment_id=made)
    stored = Deployment.objects.filter(pk=deployment.pk).values_list("github_deployment_id", flat=True).get()
    if stored != made:  # another worker's report created one first: that one is reported to
        log.info("deployment %s: GitHub deployment %s left unused, %s came first", deployment.pk, made, stored)
        with contextlib.suppress(GitHubError):  # so the spare one never looks pending (and may be deleted)
            github.create_status(repo, made, state="inactive", description=f"A duplicate of deployment {stored}.")
    deployment.github_deployment_id = stored
    return stored, stored == made


def _later_success(deployment: Deployment):
    return Deployment.objects.filter(
        target_id=deployment.target_id, status=Status.SUCCEEDED, finished_at__gt=deployment.finished_at
    )


def _replaced(deployment: Deployment) -> Deployment | None:
    """The target's previous successful deployment reported to GitHub, which this one replaced."""
    return (
        Deployment.objects.filter(
            target_id=deployment.target_id,
            status=Status.SUCCEEDED,
            finished_at__lt=deployment.finished_at,
            github_deployment_id__isnull=False,
        )
        .exclude(pk=deployment.pk)
        .order_by("-finished_at")
        .first()
    )


def _description(deployment: Deployment, state: str) -> str:
    target, sha = deployment.target.name, deployment.short_sha
    text = {
        "queued": f"{deployment.kind.capitalize()} of {sha} to {target} queued by {deployment.requested_by_name}.",
        "in_progress": f"Deploying {sha} to {target}.",
        "success": f"{sha} is live on {target}.",
        "failure": deployment.reason or f"The deployment of {sha} to {target} failed.",
        "error": deployment.reason or f"The deployment of {sha} to {target} was cancelled.",
        "inactive": f"A later deployment to {target} replaced this one.",
    }[state]
    return text[:_MAX_DESCRIPTION]


def _log_url(deployment: Deployment) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/deployments/{deployment.pk}/" if settings.SITE_URL else ""


def _try_again(deployment: Deployment, attempt: int, error: GitHubError) -> str:
    if error.worth_retrying and attempt < MAX_TRIES:
        pause = FIRST_PAUSE * 2 ** (attempt - 1)
        log.warning("deployment %s: GitHub report failed (try %s), again in %s s: %s", deployment.pk, attempt, pause,
                    error)  # fmt: skip
        queue.report_to_github(deployment.pk, attempt + 1, after=pause)
        return f"try {attempt} failed, again in {pause} s: {error}"
    log.warning("deployment %s: GitHub report given up after %s tries: %s", deployment.pk, attempt, error)
    if deployment.is_finished:  # a running deployment's log belongs to its worker until it ends
        append_last(deployment, f"GitHub could not be told about this deployment: {error}")
    return f"given up after {attempt} tries: {error}"
