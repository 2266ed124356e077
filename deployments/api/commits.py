"""GET /api/apps/{app}/commits: a branch's commits with where each was deployed and is live."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema

from deployments import selectors
from portal.apiauth import actor
from portal.errors import BadRequest, Unavailable
from portal.paging import MAX_PAGE
from projects import access, ci, mirror
from projects.git import GitError
from projects.mirror import RefError

router = Router(tags=["apps"])


class CiContext(Schema):
    context: str
    state: str
    target_url: str


class CiOut(Schema):
    state: str
    contexts: list[CiContext]


class CommitOut(Schema):
    sha: str
    message: str
    author: str
    date: datetime
    deployed_to: list[str]
    live_on: list[str]
    ci: CiOut | None


@router.get("/apps/{app}/commits", response=list[CommitOut])
def list_commits(
    request: HttpRequest,
    app: str,
    branch: str = "",
    limit: int = Query(50, ge=1, le=100),
    page: int = Query(1, ge=1, le=MAX_PAGE),
):
    found = access.app_for(actor(request), app)
    try:
        # Pipelines read this right after a push: fetch first (a fetch that just ran counts).
        mirror.sync(found, max_age=1)
        rows, _ = selectors.commit_rows(found, branch or found.default_branch, page=page, per_page=limit)
    except RefError as error:
        raise BadRequest(f"branch: {error}") from None
    except GitError as error:
        raise Unavailable(f"The repository could not be read: {error}") from None
    return [
        {
            "sha": row.commit.sha,
            "message": row.commit.message,
            "author": row.commit.author,
            "date": row.commit.date,
            "deployed_to": row.deployed_to,
            "live_on": [t.slug for t in row.live_on],
            "ci": ci_out(row.ci),
        }
        for row in rows
    ]


def ci_out(combined: ci.Combined | None) -> dict | None:
    if combined is None:
        return None
    return {
        "state": combined.state,
        "contexts": [{"context": s.context, "state": s.state, "target_url": s.target_url} for s in combined.contexts],
    }


