"""Drift at a glance: the branch each target's live commit came from and how far behind it is.

"N commits behind main" counts the commits of the app's default branch that are not live on the
target (Shipit's undeployed commits, Argo CD's OutOfSync), with mirror.count_between.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from deployments.models import Deployment, Status
from projects import mirror
from projects.git import GitError
from projects.models import App, Target

_BRANCHES_TRIED = 20


@dataclass(frozen=True)
class Drift:
    branch: str  # where the live commit came from ("" when no branch holds it)
    base: str  # the app's default branch
    behind: int | None  # commits of `base` not live on the target; None when unknown


def _behind(app: App, live: str, head: str) -> int | None:
    try:
        return mirror.count_between(app, live, head)  # answered from the ancestry index when it can
    except GitError:
        return None


def _branch(app: App, live: str, ref: str, heads: dict[str, str]) -> str:
    """The branch a live commit came from: the ref it was deployed by when that is a branch,
    else the first branch holding it, the default branch first (a deploy from the app page
    names a sha). Ancestry walks are cached by mirror.ancestors_among."""
    if ref in heads:
        return ref
    names = sorted(heads, key=lambda name: (name != app.default_branch, name))[:_BRANCHES_TRIED]
    return next((name for name in names if live in mirror.ancestors_among(app, heads[name], [live])), "")


def for_targets(app: App, targets: list[Target]) -> dict[int, Drift]:
    """Each target with something live: its branch and its distance behind the default branch."""
    live = [t for t in targets if t.live_sha]
    if not live or not mirror.exists(app):
        return {}
    heads = mirror.heads(app)
    head = heads.get(app.default_branch, "")
    lives = {t.pk: t.live_sha for t in live}
    # The live sha is the sha of the target's newest success (the contract's live_sha): one
    # index seek per target for its ref, all in one query, never a read of every success.
    newest = Deployment.objects.filter(target_id=OuterRef("pk"), status=Status.SUCCEEDED).order_by("-id")
    rows = Target.objects.filter(pk__in=lives).annotate(
        newest_sha=Subquery(newest.values("sha")[:1]), newest_ref=Subquery(newest.values("ref")[:1])
    )
    refs = {pk: ref for pk, sha, ref in rows.values_list("pk", "newest_sha", "newest_ref") if sha == lives[pk]}
    found = {}
    for target in live:
        found[target.pk] = Drift(
            branch=_branch(app, target.live_sha, refs.get(target.pk, ""), heads),
            base=app.default_branch,
            behind=_behind(app, target.live_sha, head) if head else None,
        )
    return found
