"""What a deployment is to its target: a deploy, a rollback (how far back) or a redeploy.

A forecast when it is requested, settled when it starts against what is live then (CONTRACT.md):
deployments queued behind one another each see the one before them go out.
"""

from __future__ import annotations

from deployments.models import Kind
from projects import mirror
from projects.models import App


def kind_of(app: App, live: str, sha: str) -> tuple[str, int]:
    """(kind, commits back) of deploying `sha` where `live` is live; the mirror holds both."""
    if not live:
        return Kind.DEPLOY, 0
    if sha == live:
        return Kind.REDEPLOY, 0
    if mirror.is_ancestor(app, sha, live):
        return Kind.ROLLBACK, mirror.count_between(app, sha, live)
    return Kind.DEPLOY, 0
