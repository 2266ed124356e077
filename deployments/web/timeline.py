"""The app page's commit timeline: search, each commit's deploy buttons and why one is disabled."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.urls import reverse

from deployments import selectors
from deployments.models import Deployment, Status
from deployments.selectors import CommitRow
from deployments.web.drift import Drift
from projects import ci, mirror
from projects.access import Grant
from projects.locks import active_lock
from projects.models import App, Lock, Role, Target

SEARCH_DEPTH = 1000  # how far back a search looks on the branch


@dataclass
class Column:
    """One target across the page: whether its buttons work, and if not, why."""

    target: Target
    lock: Lock | None
    older: set[str] = field(default_factory=set)
    why_not: str = ""
    reason: str = ""  # a word for the disabled button: role, protected, locked
    deploy_url: str = ""  # reversed once per page, not once per button
    admin: bool = False  # may override the CI gate (on the confirmation page)
    # Whether the branch shown grows from what is live: if not, its commits are not fast-forwards.
    fast_forward: bool = True
    head: str = ""  # the tip of the branch shown
    drift: Drift | None = None  # where the live commit came from, how far behind it is


@dataclass(frozen=True)
class Button:
    target: Target
    kind: str  # deploy, redeploy or rollback
    why_not: str = ""  # the whole sentence: why the button is disabled and what to do
    reason: str = ""  # role, protected, locked or ci
    short: str = ""  # the few words shown beside the disabled button
    url: str = ""  # the target's deploy URL (POST to deploy, GET with ?ref= to confirm)
    confirm: str = ""  # why the deploy goes through the confirmation page: protected, diverged, ci
    id: str = ""  # stable across live refreshes, so keyboard focus survives them
    # The one button of the row drawn as the main action: a commit newer than what is live
    # (or, with nothing live yet, the branch's head), never a rollback or a redeploy.
    primary: bool = False
    promote: bool = False  # the commit is live on another target: the deploy promotes it

    @property
    def label(self) -> str:
        if self.promote:
            return f"Promote to {self.target.name}"
        if self.kind == "rollback":
            return f"Roll back {self.target.name}"
        if self.kind == "redeploy":
            return f"Redeploy to {self.target.name}"
        return f"Deploy to {self.target.name}"


def search(app: App, branch: str, query: str, *, page: int, per_page: int = mirror.PAGE_SIZE):
    """Commits of `branch` whose sha starts with, or message or author contains, `query`."""
    rows, _ = selectors.commit_rows(app, branch, page=1, per_page=SEARCH_DEPTH)
    needle = query.strip().lower()
    found = [row for row in rows if _matches(row, needle)]
    start = (page - 1) * per_page
    return found[start : start + per_page], len(found) > start + per_page


def _matches(row: CommitRow, needle: str) -> bool:
    commit = row.commit
    return commit.sha.startswith(needle) or needle in commit.message.lower() or needle in commit.author.lower()


def columns(app: App, grant: Grant, targets: list[Target], shas: list[str], *, head: str = "") -> list[Column]:
    """`head`: the tip of the branch shown, to tell fast-forwards from diverged commits."""
    found = []
    for target in targets:
        lock = active_lock(target)
        column = Column(
            target=target,
            lock=lock,
            deploy_url=reverse("deploy", args=[app.slug, target.slug]),
            admin=grant.at_least(Role.ADMIN),
            head=head,
        )
        if target.live_sha:
            column.older = mirror.ancestors_among(app, target.live_sha, shas)
            if head and head != target.live_sha:
                # One cached walk per branch and target. Every commit of the page is an ancestor
                # of the head, so if what is live is not, none of them grows from it. (A commit
                # of a merged side branch still counts as a fast-forward here: the confirmation
                # is a help, the push itself is the same.)
                column.fast_forward = target.live_sha in mirror.ancestors_among(app, head, [target.live_sha])
        if not grant.at_least(Role.DEPLOYER):
            column.reason, column.why_not = "role", grant.why_not_deploy(target) or ""
        elif not grant.may_deploy(target):
            column.reason, column.why_not = "protected", grant.why_not_deploy(target) or ""
        elif lock is not None:
            column.reason = "locked"
            column.why_not = f"{target.name} is locked by {lock.by}: {lock.reason}. Unlock it on its page to deploy."
        found.append(column)
    return found


def buttons(row: CommitRow, page_columns: list[Column]) -> list[Button]:
    made = []
    for column in page_columns:
        target, sha = column.target, row.commit.sha
        kind = "redeploy" if sha == target.live_sha else "rollback" if sha in column.older else "deploy"
        why_not, reason, short, confirm = column.why_not, column.reason, _short(column.reason), ""
        if not why_not and target.require_ci:
            problem = _ci_problem(target, row)
            if problem and column.admin:
                confirm, short = "ci", _ci_short(row)
            elif problem:
                why_not = f"{problem} Ask an app admin to override, or wait for CI."
                reason, short = "ci", _ci_short(row)
        if not confirm and not why_not:
            # Every action on a protected target is confirmed, a first deploy and a redeploy too.
            if target.protected:
                confirm = "protected"
            elif kind == "deploy" and target.live_sha and not column.fast_forward:
                confirm = "diverged"
        # A commit live on another target is promoted through the confirmation (what's going
        # out); one row never offers both a promote and another action for the same target.
        promote = kind == "deploy" and any(t.pk != target.pk for t in row.live_on)
        if promote and not why_not and not confirm:
            confirm = "promote"
        newer = bool(target.live_sha) and column.fast_forward
        first = not target.live_sha and (not column.head or sha == column.head)
        made.append(
            Button(
                target=target,
                kind=kind,
                why_not=why_not,
                reason=reason,
                short=short,
                url=column.deploy_url,
                confirm=confirm,
                id=f"deploy-{row.commit.short}-{target.slug}",
                primary=kind == "deploy" and (newer or first),
                promote=promote,
            )
        )
    return made


def _ci_problem(target: Target, row: CommitRow) -> str | None:
    """The CI gate's verdict from the row's statuses, read once for the page."""
    return ci.verdict(target, row.commit.sha, row.ci)


def _ci_short(row: CommitRow) -> str:
    if row.ci is None:
        return "No CI status"
    return {"pending": "CI pending", "failure": "CI failed", "error": "CI failed"}.get(row.ci.state, "CI incomplete")


def _short(reason: str) -> str:
    words = {"locked": "Locked", "protected": "Protected", "role": "Needs the deployer role"}
    return words.get(reason, "")


def live_marks(row: CommitRow) -> list[tuple[Target, Deployment | None]]:
    """Each target this commit is live on, with the success that put it there (who and when)."""
    newest = {d.target.pk: d for d in row.deployments if d.status == Status.SUCCEEDED}
    return [(target, newest.get(target.pk)) for target in row.live_on]


def in_flight(app: App, shas: list[str]) -> dict[str, list[Deployment]]:
    """Queued and running deployments of the page's commits, to mark them on the timeline."""
    by_sha: dict[str, list[Deployment]] = defaultdict(list)
    # By target and status (the deploy_target_status index): the few waiting or running rows,
    # not every deployment ever made of the page's commits.
    targets = Target.objects.filter(app=app).values("pk")
    active = (
        Deployment.objects.filter(target_id__in=targets, status__in=[Status.QUEUED, Status.RUNNING], sha__in=shas)
        .select_related("target")
        .order_by("id")
    )
    for deployment in active:
        by_sha[deployment.sha].append(deployment)
    return by_sha
