"""One bare mirror per app under DATA_DIR/mirrors: cloned once, fetched incrementally.

Reads (commit lists, ref resolution, ancestry) run `git` with format strings against the
mirror; GitPython objects are never kept open, so no cat-file process outlives a call.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from projects import ancestry, git
from projects.git import GitError
from projects.models import App
from projects.validators import FULL_SHA, HEX_SHA, ref_problem, url_problem

log = logging.getLogger("bartender.mirror")

PAGE_SIZE = 50
_STAMP = "bartender-fetched"
# NUL ends every field: the one byte a commit's subject or author name can never hold.
_LOG_FORMAT = "--format=%H%x00%an%x00%aI%x00%s%x00"


class RefError(Exception):
    """A ref that is invalid, unknown or ambiguous; the message names it."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: datetime
    message: str

    @property
    def short(self) -> str:
        return self.sha[:7]


def path(app: App) -> Path:
    return settings.DATA_DIR / "mirrors" / f"{app.pk}.git"


def credentials(app: App) -> git.Credentials:
    return git.Credentials(
        username=app.repo_username,
        password=app.repo_token,
        ssh_key=app.ssh_key,
        known_hosts=app.ssh_known_hosts,
    )


def exists(app: App) -> bool:
    return (path(app) / _STAMP).exists()


def age(app: App) -> float | None:
    """Seconds since the last fetch, or None when the mirror was never cloned."""
    try:
        return time.time() - (path(app) / _STAMP).stat().st_mtime
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Cloning:
    """A first clone in progress (in any process of this machine): since when, how far."""

    seconds: float
    received_bytes: int


def cloning(app: App) -> Cloning | None:
    """The first clone under way for `app`, read from its work folder (see _clone)."""
    target = path(app)
    for tmp in target.parent.glob(f"{target.name}.*.tmp"):
        try:
            started = (tmp / "HEAD").stat().st_mtime  # written first, by git init
            size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        except FileNotFoundError:  # it just finished or failed
            continue
        return Cloning(seconds=max(0.0, time.time() - started), received_bytes=size)
    return None


@contextlib.contextmanager
def _locked(app: App) -> Iterator[None]:
    lock_path = path(app).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sync(app: App, *, max_age: float = 0, index: bool = True) -> None:
    """Clone the mirror if missing, else fetch it unless a fetch started within max_age s.

    `index`: keep what the fetch learned about the main line in the shared ancestry index
    (projects/ancestry.py); a page's background fetch leaves that to the workers' fetches.

    The stamp's time is when the last fetch *started*: a fetch that began after we asked has
    seen everything we need (one that merely finished after we asked may have missed a push).
    """
    asked = time.time()
    with _locked(app):
        current = age(app)
        if current is not None and (current <= max_age or time.time() - current >= asked):
            return
        started = time.time()
        if current is None:
            _clone(app)
        else:
            _fetch_into(app, path(app))
        stamp = path(app) / _STAMP
        stamp.touch()
        os.utime(stamp, (started, started))
    # Outside the mirror's lock: the index is written to the database (or Redis), which may be
    # busy; a writer waiting on it must not hold up every reader of the mirror.
    if index:
        _index_ancestry(app)


def _index_ancestry(app: App) -> None:
    """Keep what this fetch learned about the main line (projects/ancestry.py). Best effort:
    without it, ancestry questions go to git as before."""
    head = heads(app).get(app.default_branch)
    if head is None:
        return
    try:
        ancestry.refresh(app_id=app.pk, repo=path(app), head=head)
    except Exception:
        log.exception("the ancestry index of app %s was not updated", app.pk)


def _clone(app: App) -> None:
    target = path(app)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    try:
        git.run(git.command("init", "--quiet", "--bare", "--", str(tmp)))
        _fetch_into(app, tmp)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fetch_into(app: App, repo: Path) -> None:
    problem = url_problem(app.repo_url)  # again here: this machine's DATA_DIR may differ
    if problem:
        raise GitError(f"The repository URL {problem}.")
    git.run(
        git.command(
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "--end-of-options",
            app.repo_url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ),
        cwd=repo,
        creds=credentials(app),
    )


def remote_default_branch(app: App, *, timeout: float = 30) -> str:
    """The branch the repository's HEAD points to (`ls-remote --symref`), read without a clone."""
    problem = url_problem(app.repo_url)
    if problem:
        raise GitError(f"The repository URL {problem}.")
    out = git.run(
        git.command("ls-remote", "--symref", "--end-of-options", app.repo_url, "HEAD"),
        creds=credentials(app),
        timeout=timeout,
    )
    for line in out.splitlines():
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            return line.removeprefix("ref: refs/heads/").removesuffix("\tHEAD")
    # HEAD names no branch that exists (a bare repository made with another default): a single
    # branch is the default all the same; with several, someone must say which.
    heads = git.run(
        git.command("ls-remote", "--heads", "--end-of-options", app.repo_url),
        creds=credentials(app),
        timeout=timeout,
    ).splitlines()
    if len(heads) == 1:
        return heads[0].split("\t", 1)[1].removeprefix("refs/heads/")
    raise GitError("The repository's HEAD names no branch, and it has several (or none) to choose from.")


def _read(app: App, *args: str) -> str:
    if not exists(app):
        raise GitError("The repository has not been fetched yet.")
    return git.run(git.command(*args), cwd=path(app))


def heads(app: App) -> dict[str, str]:
    """Every branch of the mirror and the sha it points at."""
    return _refs(app)["heads"]


def tags(app: App) -> dict[str, str]:
    """Every tag of the mirror and the commit it names (annotated tags peeled)."""
    return _refs(app)["tags"]


def _refs(app: App) -> dict[str, dict[str, str]]:
    """Branches and tags, read in one git call.

    Refs change only through our fetch, which touches the stamp afterwards: the stamp's time
    keys a per-process cache, so a page view or a deploy request needs no git call for them.
    """
    if not exists(app):
        raise GitError("The repository has not been fetched yet.")
    return _read_refs(str(path(app)), (path(app) / _STAMP).stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_refs(repo: str, fetched_ns: int) -> dict[str, dict[str, str]]:
    out = git.run(
        git.command("for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", "refs/heads/", "refs/tags/"),
        cwd=Path(repo),
    )
    found: dict[str, dict[str, str]] = {"heads": {}, "tags": {}}
    for line in out.splitlines():
        name, sha, peeled = (line.split(" ") + ["", ""])[:3]
        kind, _, short = name.removeprefix("refs/").partition("/")
        found[kind][short] = peeled or sha
    return found


def branches(app: App) -> list[str]:
    names = list(heads(app))
    names.sort(key=lambda name: (name != app.default_branch, name))
    return names


def commits(
    app: App, branch: str, *, page: int = 1, per_page: int = PAGE_SIZE, head: str | None = None
) -> tuple[list[Commit], bool]:
    """One page of a branch, newest first, and whether a next page exists."""
    if ref_problem(branch):
        raise RefError(f"The branch '{branch}' is not a valid branch name.")
    head = head or heads(app).get(branch)
    if head is None:
        raise RefError(f"The branch '{branch}' does not exist.")
    found = _log_page(str(path(app)), head, (page - 1) * per_page, per_page + 1)
    return list(found[:per_page]), len(found) > per_page


# History below a sha never changes, so a page of it can be kept; keyed by the head's sha.
@functools.lru_cache(maxsize=256)
def _log_page(repo: str, head: str, skip: int, count: int) -> tuple[Commit, ...]:
    out = git.run(
        git.command(
            "log", _LOG_FORMAT, f"--skip={skip}",
            f"--max-count={count}", "--end-of-options", head, "--",
        ),
        cwd=Path(repo),
    )  # fmt: skip
    return tuple(_parse(out))


def _parse(out: str) -> list[Commit]:
    """Commits from `git log` output in _LOG_FORMAT (4 NUL-terminated fields each)."""
    fields = out.split("\0")
    found = []
    for at in range(0, len(fields) - 4, 4):
        sha, author, date, message = fields[at : at + 4]
        sha = sha.strip("\n")  # git puts a newline between commits
        if not FULL_SHA.match(sha):
            raise GitError("git log answered in an unexpected shape.")
        # The author's own offset is kept by %aI; answers are in UTC.
        when = datetime.fromisoformat(date).astimezone(UTC)
        found.append(Commit(sha=sha, author=author, date=when, message=message))
    return found


def commit(app: App, sha: str) -> Commit | None:
    try:
        found = _parse(_read(app, "log", "-1", _LOG_FORMAT, "--end-of-options", sha, "--"))
    except GitError:
        return None
    return found[0] if found else None


def _subject_key(app: App, sha: str) -> str:
    return f"commit:{app.pk}:{sha}"


def cached_commits(wanted: list[tuple[App, str]]) -> dict[tuple[int, str], Commit]:
    """The commits named by (app, full sha), keyed by (app id, sha); unknown ones are left out.

    A commit never changes once made, so what git said about it is kept in the shared cache
    for good: a page listing many targets reads them all in one cache call, and asks git only
    for the ones it has not seen, in one call per app.
    """
    wanted = [(app, sha) for app, sha in wanted if FULL_SHA.match(sha)]
    keys = {_subject_key(app, sha): (app, sha) for app, sha in wanted}
    found: dict[tuple[int, str], Commit] = {}
    for key, hit in cache.get_many(list(keys)).items():
        app, sha = keys[key]
        found[(app.pk, sha)] = hit
    missing: dict[int, tuple[App, set[str]]] = {}
    for app, sha in keys.values():
        if (app.pk, sha) not in found and exists(app):
            missing.setdefault(app.pk, (app, set()))[1].add(sha)
    fresh: dict[str, Commit] = {}
    for app, shas in missing.values():
        for got in _read_commits(app, sorted(shas)):
            fresh[_subject_key(app, got.sha)] = got
            found[(app.pk, got.sha)] = got
    if fresh:
        cache.set_many(fresh, timeout=None)
    return found


def _read_commits(app: App, shas: list[str]) -> list[Commit]:
    try:
        return _parse(_read(app, "log", "--no-walk=unsorted", _LOG_FORMAT, "--end-of-options", *shas, "--"))
    except GitError:
        # One unknown sha fails the whole call (say, pushed elsewhere and not fetched yet).
        return [found for sha in shas if (found := commit(app, sha)) is not None]


def _verify(app: App, name: str) -> str | None:
    try:
        out = _read(app, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}")
    except GitError:
        return None
    return out.strip() or None


def resolve(app: App, ref: str) -> str:
    """A full commit sha for `ref`: a branch, a tag, then a full sha or unique prefix (>= 7)."""
    problem = ref_problem(ref)
    if problem:
        raise RefError(f"The ref '{ref}' {problem}.")
    for names in (heads(app), tags(app)):
        if ref in names and has_commit(app, names[ref]):
            return names[ref]
    if HEX_SHA.match(ref.lower()):  # shas are case-insensitive; git wants them lower case
        candidates = _commits_with_prefix(app, ref.lower())
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise RefError(f"The ref '{ref}' is an ambiguous sha prefix; give more characters.")
    raise RefError(f"The ref '{ref}' is not a branch, tag or commit of this repository.")


def _commits_with_prefix(app: App, prefix: str) -> list[str]:
    if FULL_SHA.match(prefix):
        return [prefix] if has_commit(app, prefix) else []
    try:
        out = _read(app, "rev-parse", f"--disambiguate={prefix}")
    except GitError:
        return []
    return [sha for sha in out.split() if _verify(app, sha) == sha]


def has_commit(app: App, sha: str) -> bool:
    return FULL_SHA.match(sha) is not None and exists(app) and _has_commit(str(path(app)), sha)


# Only answers "yes" are kept: a commit, once fetched, stays (absent ones may arrive later).
_known_commits: dict[tuple[str, str], bool] = {}


def _has_commit(repo: str, sha: str) -> bool:
    if (repo, sha) in _known_commits:
        return True
    try:
        out = git.run(
            git.command("rev-parse", "--verify", "--quiet", "--end-of-options", f"{sha}^{{commit}}"), cwd=Path(repo)
        )
    except GitError:
        return False
    if out.strip() != sha:
        return False
    if len(_known_commits) > 10000:
        _known_commits.clear()
    _known_commits[(repo, sha)] = True
    return True


def is_ancestor(app: App, older: str, newer: str) -> bool:
    known = ancestry.is_ancestor(app_id=app.pk, older=older, newer=newer)
    if known is not None:
        return known
    try:
        _read(app, "merge-base", "--is-ancestor", "--end-of-options", older, newer)
    except GitError:
        return False
    return True


def count_between(app: App, older: str, newer: str) -> int:
    """How many commits `newer` has that `older` has not."""
    known = ancestry.count_between(app_id=app.pk, older=older, newer=newer)
    if known is not None:
        return known
    out = _read(app, "rev-list", "--count", "--end-of-options", f"{older}..{newer}", "--")
    return int(out.strip() or 0)


def ancestors_among(app: App, tip: str, shas: list[str], *, limit: int = 10000) -> set[str]:
    """Which of `shas` (one page of a branch) are ancestors of `tip`, with one bounded walk."""
    if not shas or not FULL_SHA.match(tip) or not exists(app):
        return set()
    known = ancestry.ancestors_among(app_id=app.pk, tip=tip, shas=shas)
    if known is not None:
        return known
    try:
        return set(_ancestors_among(str(path(app)), tip, tuple(shas), limit))
    except GitError:  # the tip is not in this mirror (yet): nothing to mark, nothing kept
        return set()


@functools.lru_cache(maxsize=256)
def _ancestors_among(repo: str, tip: str, shas: tuple[str, ...], limit: int) -> frozenset[str]:
    # Ancestry between fixed shas never changes: safe to keep (failures raise, so are not kept).
    out = git.run(
        git.command("rev-list", f"--max-count={limit}", "--end-of-options", tip, f"^{shas[-1]}^@", "--"),
        cwd=Path(repo),
    )
    reachable = set(out.split())
    return frozenset(sha for sha in shas if sha in reachable)


def commits_between(app: App, older: str, newer: str, *, limit: int = 100) -> list[Commit]:
    """The commits `newer` has that `older` has not, newest first (what a rollback undoes)."""
    out = _read(
        app,
        "log",
        _LOG_FORMAT,
        f"--max-count={limit}",
        "--end-of-options",
        f"{older}..{newer}",
        "--",
    )
    return _parse(out)
