"""Real git repositories and bare remotes for the tests, made with the git binary."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Repo:
    """A working repository; `shas` lists main's commits oldest first."""

    def __init__(self, path: Path, commits: int = 5) -> None:
        self.path = path
        path.mkdir(parents=True)
        git("init", "--quiet", "--initial-branch=main", cwd=path)
        self.shas: list[str] = []
        for n in range(commits):
            self.commit(f"Commit number {n + 1}", {"app.txt": f"version {n + 1}\n"})

    def commit(self, message: str, files: dict[str, str], author: str | None = None) -> str:
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
        git("add", "--all", cwd=self.path)
        env = {"GIT_AUTHOR_NAME": author} if author else None
        git("commit", "--quiet", "-m", message, cwd=self.path, env=env)
        sha, branch = git("rev-parse", "HEAD", "--abbrev-ref", "HEAD", cwd=self.path).splitlines()
        if branch == "main":
            self.shas.append(sha)
        return sha

    def commit_many(self, commits: list[tuple[str, dict[str, str]]]) -> list[str]:
        """Make `commits` (message, files) one after another on the checked-out branch, as as many
        `commit` calls would, with the working tree left at the last: three git runs in all (one
        `git fast-import`) instead of three per commit, for tests that need a long history."""
        head, branch = git("rev-parse", "HEAD", "--abbrev-ref", "HEAD", cwd=self.path).splitlines()
        author = f"{ENV['GIT_AUTHOR_NAME']} <{ENV['GIT_AUTHOR_EMAIL']}> now"
        committer = f"{ENV['GIT_COMMITTER_NAME']} <{ENV['GIT_COMMITTER_EMAIL']}> now"
        stream = bytearray()

        def data(text: str) -> None:
            stream.extend(b"data %d\n%s\n" % (len(text.encode()), text.encode()))

        for mark, (message, files) in enumerate(commits, start=1):
            stream.extend(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
            stream.extend(f"author {author}\ncommitter {committer}\n".encode())
            data(message + "\n")  # as `git commit -m` stores it
            if mark == 1:
                stream.extend(f"from {head}\n".encode())
            for name, text in files.items():
                stream.extend(f"M 100644 inline {name}\n".encode())
                data(text)
        with tempfile.TemporaryDirectory() as scratch:
            marks = Path(scratch) / "marks"
            subprocess.run(
                ["git", "fast-import", "--quiet", "--date-format=now", f"--export-marks={marks}"],
                cwd=self.path, env=ENV, input=bytes(stream), capture_output=True, check=True,
            )  # fmt: skip
            made = dict(line.split() for line in marks.read_text().splitlines())
        git("reset", "--hard", "--quiet", cwd=self.path)  # the working tree and index at the new tip
        shas = [made[f":{mark}"] for mark in range(1, len(commits) + 1)]
        if branch == "main":
            self.shas.extend(shas)
        return shas

    def copy(self, path: Path) -> Repo:
        """An independent copy at `path`, with the same commits: far cheaper than making them again."""
        copied = copy.copy(self)
        copied.path = copy_tree(self.path, path)
        copied.shas = list(self.shas)
        return copied

    def branch(self, name: str, start: str = "main") -> None:
        git("branch", name, start, cwd=self.path)

    def checkout(self, name: str) -> None:
        git("checkout", "--quiet", name, cwd=self.path)

    def tag(self, name: str, sha: str) -> None:
        git("tag", name, sha, cwd=self.path)


def bare_remote(path: Path, pre_receive: str | None = None) -> Path:
    path.mkdir(parents=True)
    git("init", "--quiet", "--bare", cwd=path)
    if pre_receive:
        hook = path / "hooks" / "pre-receive"
        hook.write_text(pre_receive)
        hook.chmod(0o755)
    return path


def copy_tree(source: Path, path: Path) -> Path:
    """A copy of a repository's folder (git's sample hooks left out): a whole repository of its own."""
    shutil.copytree(source, path, symlinks=True, ignore=shutil.ignore_patterns("*.sample"))
    return path


def remote_head(path: Path, ref: str = "refs/heads/main") -> str:
    try:
        return git("rev-parse", "--verify", "--quiet", ref, cwd=path)
    except subprocess.CalledProcessError:
        return ""


BUILD_HOOK = """#!/bin/sh
while read old new ref; do
  echo "-----> Building $new"
  if git ls-tree -r --name-only "$new" | grep -qx BREAK; then
    echo " !     Build failed: BREAK file present"
    exit 1
  fi
  echo "Verifying deploy... done."
done
"""
