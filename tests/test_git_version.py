"""Bartender refuses to start with a git older than 2.24 (it relies on --end-of-options)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from projects import git
from projects.git import parse_version

ROOT = Path(__file__).resolve().parent.parent


def fake_git(tmp_path: Path, version_line: str) -> str:
    """A PATH whose `git` prints `version_line`."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text(f"#!/bin/sh\necho '{version_line}'\n")
    (fake / "git").chmod(0o755)
    return f"{fake}:{os.environ['PATH']}"


def test_an_old_git_stops_the_start_with_a_sentence(tmp_path):
    env = {**os.environ, "PATH": fake_git(tmp_path, "git version 2.20.1"), "DATA_DIR": str(tmp_path / "data")}

    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode != 0
    sentence = "Bartender needs git 2.24 or newer (for --end-of-options); this machine has git version 2.20.1."
    assert sentence in done.stderr


def test_git_2_24_is_new_enough_and_a_missing_git_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_git(tmp_path, "git version 2.24.0"))
    git.require_version()

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ImproperlyConfigured, match="no `git` is on the PATH"):
        git.require_version()


@pytest.mark.parametrize(
    ("text", "version"),
    [("git version 2.39.5\n", (2, 39)), ("git version 2.24.0.windows.1", (2, 24)), ("hub 1.0", None)],
)
def test_the_version_is_read_from_gits_own_words(text, version):
    assert parse_version(text) == version
