"""What's going out: the commits a deployment adds to a target and the ones it takes away."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from projects import mirror
from projects.git import GitError
from projects.mirror import Commit
from projects.models import App

LIMIT = 50
_GITHUB = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$"
)


@dataclass(frozen=True)
class Outgoing:
    live: str
    sha: str
    adding: list[Commit] = field(default_factory=list)  # on `sha`, not yet live: going out
    removing: list[Commit] = field(default_factory=list)  # live now, not on `sha`: going back
    compare_url: str = ""
    adding_count: int = 0  # the true counts: the lists hold only the newest LIMIT
    removing_count: int = 0

    @property
    def authors(self) -> list[str]:
        return sorted({c.author for c in self.adding + self.removing})



def compare_url(repo_url: str, base: str, head: str) -> str:
    """A GitHub compare page for GitHub-hosted repositories, else ''."""
    found = _GITHUB.match(repo_url)
    if not found or not base or not head:
        return ""
    return f"https://github.com/{found['owner']}/{found['repo']}/compare/{base}...{head}"


def going_out(app: App, *, live: str, sha: str) -> Outgoing | None:
    """The difference between `live` and `sha` in the app's mirror; None when it cannot be told."""
    if not live or not sha or live == sha or not mirror.exists(app):
        return None
    try:
        if not (mirror.has_commit(app, live) and mirror.has_commit(app, sha)):
            return None
        adding = mirror.commits_between(app, live, sha, limit=LIMIT)
        removing = mirror.commits_between(app, sha, live, limit=LIMIT)
        # Only a full page may hide more: then count them all (rev-list --count).
        adding_count = mirror.count_between(app, live, sha) if len(adding) >= LIMIT else len(adding)
        removing_count = mirror.count_between(app, sha, live) if len(removing) >= LIMIT else len(removing)
    except GitError:
        return None
    return Outgoing(
        live=live,
        sha=sha,
        adding=adding,
        removing=removing,
        compare_url=compare_url(app.repo_url, live, sha),
        adding_count=adding_count,
        removing_count=removing_count,
    )
