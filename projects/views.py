"""The app page: one page of a branch's commits with what is live where and deploy buttons."""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.services import active_lock
from portal.actor import Actor
from projects import access, mirror, selectors
from projects.git import GitError
from projects.mirror import RefError
from projects.models import App

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
            mirror.sync(app, max_age=settings.MIRROR_MAX_AGE)
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
    if age is None or age > settings.MIRROR_MAX_AGE:
        refresh_in_background(found)
    targets = list(found.targets.select_related("lock"))
    context = {"app": found, "targets": targets, "fetching": age is None, "grant": grant}
    if age is None:
        return render(request, "projects/app.html", context)
    branches = mirror.branches(found)
    branch = request.GET.get("branch") or found.default_branch
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    try:
        rows, has_next = selectors.commit_rows(found, branch, page=page)
    except RefError as error:
        return render(request, "projects/app.html", {**context, "branches": branches, "error": str(error)}, status=404)
    shas = [row.commit.sha for row in rows]
    columns = []
    for target in targets:
        older = mirror.ancestors_among(found, target.live_sha, shas) if target.live_sha else set()
        lock = active_lock(target)
        why = grant.why_not_deploy(target) or (f"Locked by {lock.by}: {lock.reason}" if lock else None)
        columns.append({"target": target, "older": older, "why_not": why, "lock": lock})
    for row in rows:
        row.buttons = [
            {
                "target": column["target"],
                "why_not": column["why_not"],
                "kind": "redeploy"
                if row.commit.sha == column["target"].live_sha
                else "rollback"
                if row.commit.sha in column["older"]
                else "deploy",
            }
            for column in columns
        ]
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
            "may_deploy_any": any(not c["why_not"] for c in columns),
        },
    )
