"""The app page: one page of a branch's commits with what is live where and deploy buttons."""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments import selectors
from deployments.web import drift, insights, overview, timeline
from portal.actor import Actor
from portal.paging import page_number
from projects import access, mirror
from projects.git import GitError
from projects.mirror import RefError
from projects.models import App, Role

_syncing: set[int] = set()
_syncing_lock = threading.Lock()


def refresh_in_background(app: App) -> None:
    """Fetch the mirror without holding up the page; one fetch per app at a time."""
    with _syncing_lock:
        if app.pk in _syncing:
            return
        _syncing.add(app.pk)

    def work() -> None:
        from django.db import connection

        try:
            # Not indexed here: a thread of a web process must not wait on the database's write
            # lock; ancestry answers from git for commits the workers' fetches have not indexed.
            mirror.sync(app, max_age=settings.MIRROR_MAX_AGE, index=False)
        except GitError:
            pass  # the page says the mirror is stale; the next view tries again
        finally:
            connection.close()
            with _syncing_lock:
                _syncing.discard(app.pk)

    threading.Thread(target=work, name=f"mirror-{app.pk}", daemon=True).start()


@login_required
def app_page(request: HttpRequest, app: str) -> HttpResponse:
    actor = Actor.from_request(request, "web")
    found = access.app_for(actor, app)
    grant = access.grant_for(request.user, found)
    age = mirror.age(found)
    # The first clone starts in a worker when the app is registered; the page only follows it,
    # and starts one itself only when none is under way (a web machine with a DATA_DIR of its own).
    cloning = mirror.cloning(found) if age is None else None
    if (age is None and cloning is None) or (age is not None and age > settings.MIRROR_MAX_AGE):
        refresh_in_background(found)
    targets = list(found.targets.all())
    query = request.GET.get("q", "").strip()[:200]
    context = {
        "app": found,
        "targets": targets,
        "columns": timeline.columns(found, grant, targets, []),
        "fetching": age is None,
        "cloning": cloning,
        "may_deploy": grant.at_least(Role.DEPLOYER),
        "may_admin": grant.at_least(Role.ADMIN),
        "query": query,
        # The app page shows no log lines: a running deployment's output must not re-render it.
        "live_version": overview.state_version([found], with_log_lines=False, with_heads=True),
    }
    if age is None:
        return render(request, "projects/app.html", context)
    branches = mirror.branches(found)
    branch = request.GET.get("branch") or found.default_branch
    page = page_number(request.GET.get("page"))
    try:
        if query:
            rows, has_next = timeline.search(found, branch, query, page=page)
        else:
            rows, has_next = selectors.commit_rows(found, branch, page=page)
    except RefError as error:
        return render(
            request,
            "projects/app.html",
            {**context, "branches": branches, "error": str(error), "default_branch": found.default_branch},
            status=404,
        )
    shas = [row.commit.sha for row in rows]
    columns = timeline.columns(found, grant, targets, shas, head=mirror.heads(found).get(branch, ""))
    active = timeline.in_flight(found, shas)
    drifts = drift.for_targets(found, targets)
    for column in columns:
        column.drift = drifts.get(column.target.pk)
    for row in rows:
        row.buttons = timeline.buttons(row, columns)
        row.in_flight = active.get(row.commit.sha, [])
        row.live_marks = timeline.live_marks(row)
    return render(
        request,
        "projects/app.html",
        {
            **context,
            "branches": branches,
            "branch": branch,
            "rows": rows,
            "page": page,
            "has_next": has_next,
            "columns": columns,
        },
    )


@login_required
def insights_page(request: HttpRequest, app: str) -> HttpResponse:
    found = access.app_for(Actor.from_request(request, "web"), app)
    targets = list(found.targets.all())
    chosen = next((t for t in targets if t.slug == request.GET.get("target")), None)
    return render(
        request,
        "projects/insights.html",
        {
            "app": found,
            "targets": targets,
            "chosen": chosen,
            "insights": insights.compute(found, chosen),
            "weeks": insights.WEEKS,
        },
    )
