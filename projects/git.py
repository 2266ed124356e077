"""The one door to the `git` binary: argument lists only, credentials through GIT_ASKPASS.

Every git command of the project is built here (and in projects.mirror / deployments.push,
which call `command` and `run`). User data always follows `--end-of-options` or `--`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git as gitpython
from django.conf import settings

_ASKPASS = """#!/bin/sh
# Answers git's credential prompts from this process's environment only.
case "$1" in
  Username*) printf '%s\\n' "${BARTENDER_GIT_USERNAME:-git}" ;;
  *) printf '%s\\n' "$BARTENDER_GIT_PASSWORD" ;;
esac
"""
_PR_SET_PDEATHSIG = 1
# Loaded once in the parent: a forked child of a threaded process must not dlopen (it may
# deadlock on a lock some other thread held at fork time); calling prctl is safe.
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
    _LIBC.prctl  # noqa: B018 - fail here, not in the child, when prctl is missing (not Linux)
except (OSError, AttributeError):
    _LIBC = None


class GitError(Exception):
    """A git command failed; the message is a sentence safe to show (secrets redacted)."""


@dataclass(frozen=True)
class Credentials:
    """What git may use to reach one remote; never put into a URL or an argument."""

    username: str = ""
    password: str = ""
    ssh_key: str = ""
    known_hosts: str = ""
    secrets: tuple[str, ...] = field(default=())

    def redact(self, text: str) -> str:
        for secret in (self.password, self.ssh_key, *self.secrets):
            if secret:
                text = text.replace(secret, "***")
        return text


NO_CREDENTIALS = Credentials()


def askpass_path() -> Path:
    path = settings.DATA_DIR / "bin" / "askpass.sh"
    if not path.exists() or path.read_text() != _ASKPASS:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_ASKPASS)
        tmp.chmod(stat.S_IRWXU)
        tmp.replace(path)
    return path


def command(*args: str) -> list[str]:
    """A git argument list with the project's safety configuration in front."""
    return [
        "git",
        "-c",
        "credential.helper=",
        "-c",
        "protocol.ext.allow=never",
        "-c",
        "protocol.fd.allow=never",
        *args,
    ]


@contextlib.contextmanager
def environment(creds: Credentials = NO_CREDENTIALS) -> Iterator[dict[str, str]]:
    """The child's environment for one git run; SSH key files live only while it runs."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": str(askpass_path()),
        "SSH_ASKPASS": "/bin/false",
        "LC_ALL": "C",
        "BATCH_MODE": "1",
        "BARTENDER_GIT_USERNAME": creds.username or "git",
        "BARTENDER_GIT_PASSWORD": creds.password,
    }
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    with contextlib.ExitStack() as stack:
        if creds.ssh_key or creds.known_hosts:  # most runs need no files: skip the folder
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ssh-", dir=_work_dir())))
            if creds.ssh_key:
                key = tmp / "key"
                key.touch(mode=0o600)
                key.write_text(creds.ssh_key.strip() + "\n")
                ssh += ["-i", str(key)]
            if creds.known_hosts:
                hosts = tmp / "known_hosts"
                hosts.write_text(creds.known_hosts.strip() + "\n")
                ssh += ["-o", f"UserKnownHostsFile={hosts}", "-o", "StrictHostKeyChecking=yes"]
        # Only our own temporary paths reach this string, never user data.
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        yield env


def _work_dir() -> Path:
    path = settings.DATA_DIR / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    creds: Credentials = NO_CREDENTIALS,
    timeout: float = 600,
) -> str:
    """Run one git command to completion and return its stdout; GitError on failure."""
    with environment(creds) as env:
        try:
            return gitpython.Git(str(cwd) if cwd else None).execute(
                list(args),
                env=env,
                kill_after_timeout=timeout,
                strip_newline_in_stdout=False,
                preexec_fn=_die_with(os.getpid()),
            )
        except gitpython.GitCommandError as error:
            raise GitError(creds.redact(_describe(error))) from None


def _describe(error: gitpython.GitCommandError) -> str:
    stderr = error.stderr if isinstance(error.stderr, str) else str(error.stderr or "")
    lines = [line.strip() for line in stderr.strip().strip("'").splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: '").rstrip("'") for line in lines]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["git failed"])[-1]


def _die_with(parent: int, *, own_group: bool = False) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGKILL when the thread that started it dies.

    `own_group` also puts it in a process group of its own, so ending the group ends git and
    every helper it started (ssh, git-remote-https, a local receive-pack and its hooks).
    """

    def setup() -> None:
        if own_group:
            os.setsid()
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then no signal will ever come.
        if os.getppid() != parent:
            os._exit(1)

    return setup


def spawn(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> Any:
    """Start a long git command (a push) in its own process group.

    Returns GitPython's AutoInterrupt handle; keep it referenced while the process runs (it
    kills the process when collected). `.proc` is the Popen.
    """
    return gitpython.Git(str(cwd)).execute(
        list(args),
        env=env,
        as_process=True,
        with_stdout=True,
        preexec_fn=_die_with(os.getpid(), own_group=True),
    )


def kill_group(proc: Any) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
