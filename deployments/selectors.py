"""Reads of deployments: one the caller may see, and commits joined with what was deployed where."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Max
from django.http import Http404

from deployments.models import Deployment, Status
from portal.actor import Actor
from projects import access, ci, mirror
from projects.mirror import Commit
from projects.models import App, Target


@dataclass
class CommitRow:
    commit: Commit
    live_on: list[Target] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)  # successes and failures
    ci: ci.Combined | None = None  # the combined CI state, None when no status was posted

    @property
    def deployed_to(self) -> list[str]:
        slugs = {d.target.slug for d in self.deployments if d.status == Status.SUCCEEDED}
        return sorted(slugs)


def commit_rows(
    app: App, branch: str, *, page: int = 1, per_page: int = mirror.PAGE_SIZE
) -> tuple[list[CommitRow], bool]:
    """One page of commits with their marks: two git reads and one indexed query."""
    commits, has_next = mirror.commits(app, branch, page=page, per_page=per_page)
    targets = list(app.targets.all())
    shas = [c.sha for c in commits]
    by_target = {t.pk: t for t in targets}
    # The marks: each target's newest success and newest failure per commit. Grouping first
    # keeps the page's cost flat however often a commit was deployed (an index-only scan).
    newest = (
        Deployment.objects.filter(app=app, sha__in=shas, status__in=[Status.SUCCEEDED, Status.FAILED])
        .values("sha", "target_id", "status")
        .annotate(newest=Max("id"))
        .order_by()
        .values_list("newest", flat=True)
    )
    finished = (
        Deployment.objects.filter(pk__in=list(newest))
        .only("id", "sha", "status", "kind", "requested_by_name", "finished_at", "target_id")
        .order_by("-id")
    )
    by_sha: dict[str, list[Deployment]] = defaultdict(list)
    for deployment in finished:
        deployment.target = by_target[deployment.target_id]  # the page's targets: no query per mark
        by_sha[deployment.sha].append(deployment)
    states = ci.combined(app, shas)
    rows = [
        CommitRow(
            commit=c,
            live_on=[t for t in targets if t.live_sha == c.sha],
            deployments=by_sha.get(c.sha, []),
            ci=states.get(c.sha),
        )
        for c in commits
    ]
    return rows, has_next


def deployment_for(actor: Actor, deployment_id: int) -> tuple[Deployment, access.Grant]:
    """A deployment the actor may see, with their grant on its app; Http404 otherwise."""
    deployment = Deployment.objects.select_related("app", "target").filter(pk=deployment_id).first()
    if deployment is None:
        raise Http404("No such deployment.")
    try:
        grant = access.require(actor, deployment.app)
    except Http404:
        # The same answer as a missing id: an app's deployment must not reveal that the app exists.
        raise Http404("No such deployment.") from None
    return deployment, grant
