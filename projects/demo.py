"""The demo: a local repository with history and two local remotes with Heroku-like hooks."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from portal import crypto
from projects import git
from projects.models import App, Target

PRE_RECEIVE = """#!/bin/sh
# Demo build: prints Heroku-like lines, rejects any commit holding a file named BREAK.
while read old new ref; do
  short=$(printf '%s' "$new" | cut -c1-7)
  echo "-----> Building $short on $ref"
  if git ls-tree -r --name-only "$new" | grep -q -e '^BREAK$' -e '/BREAK$'; then
    echo " !     Build failed: the commit contains a file named BREAK."
    echo " !     Push rejected to this target."
    exit 1
  fi
  echo "-----> Python app detected"
  sleep 1
  echo "-----> Installing requirements with pip"
  sleep 1
  echo "-----> Discovering process types"
  echo "       Procfile declares types -> web"
  echo "-----> Compressing... done, 12.3M"
  echo "-----> Launching... done, $short"
  echo "Verifying deploy... done."
done
"""

AUTHORS = ["Ada Lovelace", "Grace Hopper", "Linus Torvalds", "Margaret Hamilton"]
FEATURES = ["login", "search", "billing", "reports", "emails", "caching", "uploads", "settings"]


def _git(repo: Path, *args: str) -> str:
    return git.run(git.command(*args), cwd=repo)


def _commit(repo: Path, n: int, message: str, files: dict[str, str], when: datetime) -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "--all")
    author = AUTHORS[n % len(AUTHORS)]
    email = author.split()[0].lower() + "@example.com"
    _git(repo, "-c", f"user.name={author}", "-c", f"user.email={email}", "commit", "--quiet",
         f"--date={when.isoformat()}", "-m", message)  # fmt: skip


def make_repository(repo: Path, *, commits: int = 36) -> None:
    """A repository with `commits` commits on main and a branch whose tip holds BREAK."""
    repo.mkdir(parents=True)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    start = datetime.now(UTC) - timedelta(days=commits)
    for n in range(commits):
        feature = FEATURES[n % len(FEATURES)]
        _commit(repo, n, f"{'Add' if n < 8 else 'Improve'} {feature} (step {n + 1})",
                {"app.py": f"VERSION = {n + 1}\n", f"{feature}.txt": f"{feature} {n}\n"},
                start + timedelta(days=n))  # fmt: skip
    _git(repo, "checkout", "--quiet", "-b", "feature/dark-mode")
    for n in range(4):
        _commit(repo, n, f"Dark mode, part {n + 1}", {"theme.css": f"/* {n} */\n"},
                datetime.now(UTC) - timedelta(hours=4 - n))  # fmt: skip
    _commit(repo, 5, "Dark mode: a change that breaks the build", {"BREAK": "this build fails\n"},
            datetime.now(UTC) - timedelta(minutes=30))  # fmt: skip
    _git(repo, "checkout", "--quiet", "main")


def make_remote(remote: Path) -> None:
    remote.mkdir(parents=True)
    _git(remote, "init", "--quiet", "--bare")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(PRE_RECEIVE)
    hook.chmod(0o755)


def create(data_dir: Path) -> tuple[str, str] | None:
    """Create the demo once; returns the admin login the first time, else None."""
    if App.objects.filter(slug="demo").exists():
        return None
    base = data_dir / "demo"
    repo = base / "repo"
    if not repo.exists():
        make_repository(repo)
    for name in ("staging", "production"):
        if not (base / f"{name}.git").exists():
            make_remote(base / f"{name}.git")
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            admin = User.objects.create_superuser("admin", "admin@example.com", password)
        else:
            admin.set_password(password)
            admin.save(update_fields=["password"])
        app = App.objects.create(slug="demo", name="Demo shop", repo_url=str(repo), default_branch="main")
        for position, (slug, protected) in enumerate((("staging", False), ("production", True))):
            Target.objects.create(
                app=app, slug=slug, name=slug.capitalize(), remote_url=str(base / f"{slug}.git"),
                protected=protected, position=position, api_key_encrypted=crypto.encrypt(""),
            )  # fmt: skip
    return "admin", password
