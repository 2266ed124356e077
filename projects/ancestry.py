"""Ancestry on an app's main line, answered from what each fetch learned instead of a git walk.

After a fetch moves the default branch, its first-parent chain gets a place per commit: `depth`
(first-parent steps from the root) and `total` (commits reachable from it, itself included).
Both are facts about the commit alone, so they never go stale. For two commits on one chain,
the older is the ancestor of the newer, and the newer has `total - total` commits the older
lacks: "is X older than what is live" and "N commits behind" cost one cache read however far
apart they are, where `git rev-list` walks every commit between them.

The places live in the shared Django cache (the database or Redis), in shards by sha prefix, so
every web process (and a fresh one after a restart) reads what a worker's fetch wrote. A fetch
that extends the chain adds the new commits only (one `git rev-list NEW ^OLD`); a rewritten
branch starts a new chain under a new token. Commits off the chain (other branches, the
side of a merge) are not indexed: callers ask git for those, as before.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.core.cache import cache

from projects import git

log = logging.getLogger("bartender.ancestry")

SHARD = 3  # hex digits of the sha that pick its shard: 4,096 shards, a page reads ~50 small ones
_SHARDS = [f"{n:03x}" for n in range(16**SHARD)]


@dataclass(frozen=True)
class Place:
    depth: int  # first-parent steps from the root commit
    total: int  # commits reachable from this one, itself included


def _meta_key(app_id: int) -> str:
    return f"ancestry:{app_id}"


def _shard_key(app_id: int, token: str, shard: str) -> str:
    return f"ancestry:{app_id}:{token}:{shard}"


def refresh(*, app_id: int, repo: Path, head: str) -> None:
    """Bring the index up to `head`, the default branch's tip just fetched into `repo`."""
    meta = cache.get(_meta_key(app_id))
    if meta and meta["head"] == head:
        return
    # Generation numbers make git's own walks (the fallbacks, and the one below) several times
    # cheaper; --split writes only the commits new since the last fetch.
    git.run(git.command("commit-graph", "write", "--reachable", "--split"), cwd=repo)
    if meta:
        base = Place(*meta["place"])
        graph = _graph(repo, head, exclude=meta["head"])
        chain = _chain(graph, head, stop=meta["head"])
        if chain is not None:  # a fast-forward along the first parents: add the new commits
            places = _places(graph, chain, base=base)
            _store(app_id, meta["token"], places, merge=True)
            _set_meta(app_id, {**meta, "head": head, "place": _tuple(places[head])})
            return
    graph = _graph(repo, head, exclude="")
    chain = _chain(graph, head, stop="")
    if chain is None:
        return
    places = _places(graph, chain, base=None)
    token = uuid.uuid4().hex[:12]
    _store(app_id, token, places, merge=False)
    _set_meta(app_id, {"head": head, "token": token, "place": _tuple(places[head])})
    if meta:
        cache.delete_many([_shard_key(app_id, meta["token"], shard) for shard in _SHARDS])


def _tuple(place: Place) -> tuple[int, int]:
    return (place.depth, place.total)


def _graph(repo: Path, head: str, *, exclude: str) -> dict[str, list[str]]:
    """Every commit reachable from `head` (and not from `exclude`) with its parents."""
    args = ["rev-list", "--parents", "--end-of-options", head, *([f"^{exclude}"] if exclude else []), "--"]
    out = git.run(git.command(*args), cwd=repo)
    return {parts[0]: parts[1:] for parts in (line.split() for line in out.splitlines()) if parts}


def _chain(graph: dict[str, list[str]], head: str, *, stop: str) -> list[str] | None:
    """`head`'s first-parent chain down to `stop` (excluded; "" for the root), oldest first, or
    None when the chain does not pass through `stop` (the branch was rewritten)."""
    chain = []
    sha = head
    while sha != stop:
        parents = graph.get(sha)
        if parents is None:
            return None
        chain.append(sha)
        if not parents:
            if stop:
                return None
            break
        sha = parents[0]
    chain.reverse()
    return chain


def _places(graph: dict[str, list[str]], chain: list[str], *, base: Place | None) -> dict[str, Place]:
    """Places along `chain` (oldest first). `graph` holds exactly the commits not reachable from
    the chain's base, so each chain commit adds the ones first reached through it."""
    depth, total = (base.depth, base.total) if base else (-1, 0)
    seen: set[str] = set()
    places = {}
    for sha in chain:
        stack, added = [sha], 0
        while stack:
            commit = stack.pop()
            if commit in seen or commit not in graph:
                continue
            seen.add(commit)
            added += 1
            stack.extend(graph[commit])
        depth, total = depth + 1, total + added
        places[sha] = Place(depth, total)
    return places


def _store(app_id: int, token: str, places: dict[str, Place], *, merge: bool) -> None:
    shards: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for sha, place in places.items():
        shards[_shard_key(app_id, token, sha[:SHARD])][sha] = _tuple(place)
    if merge:
        for key, old in cache.get_many(list(shards)).items():
            shards[key] = {**old, **shards[key]}
    cache.set_many(dict(shards), timeout=None)


# Places are facts about commits: once read, a process keeps them (bounded), keyed by the chain.
_known: dict[tuple[int, str, str], Place] = {}


# Each app's chain description, as this process last read it: (monotonic time read, meta).
_metas: dict[int, tuple[float, dict | None]] = {}
# How long a process answers from the chain it last read. Places come from one chain at a time,
# so a chain a little stale is still consistent: commits newer than it only go to git meanwhile.
META_FRESH_SECONDS = 5.0


def _meta(app_id: int) -> dict | None:
    seen = _metas.get(app_id)
    if seen is not None and time.monotonic() - seen[0] < META_FRESH_SECONDS:
        return seen[1]
    meta = cache.get(_meta_key(app_id))
    _metas[app_id] = (time.monotonic(), meta)
    return meta


def _set_meta(app_id: int, meta: dict) -> None:
    cache.set(_meta_key(app_id), meta, timeout=None)
    _metas[app_id] = (time.monotonic(), meta)


def places(*, app_id: int, shas: Iterable[str]) -> dict[str, Place]:
    """The places of those `shas` that lie on the app's indexed chain (two cache reads at most,
    none for a chain and commits this process read in the last seconds)."""
    wanted = {sha for sha in shas if sha}
    if not wanted:
        return {}
    meta = _meta(app_id)
    if not meta or not wanted:
        return {}
    token = meta["token"]
    found = {sha: _known[(app_id, token, sha)] for sha in wanted if (app_id, token, sha) in _known}
    missing = wanted - found.keys()
    if missing:
        shards = cache.get_many(list({_shard_key(app_id, token, sha[:SHARD]) for sha in missing}))
        if len(_known) > 100_000:
            _known.clear()
        for sha in missing:
            got = shards.get(_shard_key(app_id, token, sha[:SHARD]), {}).get(sha)
            if got is not None:
                found[sha] = _known[(app_id, token, sha)] = Place(*got)
    return found


def is_ancestor(*, app_id: int, older: str, newer: str) -> bool | None:
    """Whether `older` is `newer` or one of its ancestors; None when the index cannot say."""
    found = places(app_id=app_id, shas=[older, newer])
    if older not in found or newer not in found:
        return None
    return found[older].depth <= found[newer].depth


def count_between(*, app_id: int, older: str, newer: str) -> int | None:
    """How many commits `newer` has that `older` has not; None when the index cannot say."""
    found = places(app_id=app_id, shas=[older, newer])
    if older not in found or newer not in found:
        return None
    return max(0, found[newer].total - found[older].total)


def ancestors_among(*, app_id: int, tip: str, shas: list[str]) -> set[str] | None:
    """Which of `shas` are ancestors of `tip` (or `tip` itself); None unless the index knows all."""
    found = places(app_id=app_id, shas=[tip, *shas])
    if tip not in found or any(sha not in found for sha in shas):
        return None
    return {sha for sha in shas if found[sha].depth <= found[tip].depth}
