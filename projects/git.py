"""The one door to the `git` binary: argument lists only, credentials through GIT_ASKPASS.

Every git command of the project is built here (and in projects.mirror / deployments.push,
which call `command` and `run`). User data always follows `--end-of-options` or `--`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git as gitpython
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal import outbound

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


MINIMUM_VERSION = (2, 24)  # --end-of-options, which every command here puts before user data


def require_version() -> None:
    """ImproperlyConfigured, with a sentence, unless `git` is installed and new enough."""
    found = shutil.which("git")
    if found is None:
        raise ImproperlyConfigured("Bartender needs git 2.24 or newer, and no `git` is on the PATH.")
    try:
        out = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise ImproperlyConfigured(f"Bartender needs git 2.24 or newer; `git --version` failed: {error}.") from None
    version = parse_version(out)
    if version is None or version < MINIMUM_VERSION:
        raise ImproperlyConfigured(
            f"Bartender needs git 2.24 or newer (for --end-of-options); this machine has {out.strip() or 'no version'}."
        )


def parse_version(text: str) -> tuple[int, int] | None:
    found = re.match(r"git version (\d+)\.(\d+)", text.strip())
    return (int(found[1]), int(found[2])) if found else None


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
        # A redirect could send the worker (and its credentials) from an allowed remote to cloud
        # metadata or a private host: git refuses them, and explain_redirect says where it pointed.
        "-c",
        "http.followRedirects=false",
        *args,
    ]


# What git may inherit from the worker's environment; everything else (ENCRYPTION_KEY,
# DATABASE_URL, ...) is removed, or a remote's hook could print it into a deployment's log.
_INHERITED = {"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "SSL_CERT_FILE", "SSL_CERT_DIR"}
_INHERITED |= {name for base in ("http_proxy", "https_proxy", "no_proxy", "all_proxy") for name in (base, base.upper())}
_STALE_KEY_DIR_SECONDS = 2 * 60 * 60


@contextlib.contextmanager
def environment(creds: Credentials = NO_CREDENTIALS) -> Iterator[dict[str, str]]:
    """The child's environment for one git run; SSH key files live only while it runs.

    Git sees no user configuration (an empty HOME of its own, no global or system config) and
    no replace refs; ssh uses no agent, no default key, no ~/.ssh/config and trusts only the
    known_hosts lines an admin supplied.
    """
    home = settings.DATA_DIR / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": str(askpass_path()),
        "SSH_ASKPASS": "/bin/false",
        "LC_ALL": "C",
        "BATCH_MODE": "1",
        "BARTENDER_GIT_USERNAME": creds.username or "git",
        "BARTENDER_GIT_PASSWORD": creds.password,
    }
    ssh = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes"]
    # By default ssh knows only what an admin supplied; an operator may let ssh remotes without
    # a key of their own use the worker machine's identity and known hosts (its deploy key).
    worker_identity = settings.SSH_USE_WORKER_IDENTITY and not creds.ssh_key
    if not worker_identity:
        ssh += ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    known_hosts = "" if worker_identity and not creds.known_hosts else "/dev/null"
    with contextlib.ExitStack() as stack:
        if creds.ssh_key or creds.known_hosts:  # most runs need no files: skip the folder
            _remove_stale_key_dirs()
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ssh-", dir=_work_dir())))
            if creds.ssh_key:
                key = tmp / "key"
                key.touch(mode=0o600)
                key.write_text(creds.ssh_key.strip() + "\n")
                ssh += ["-i", str(key)]
            if creds.known_hosts:
                hosts = tmp / "known_hosts"
                hosts.write_text(creds.known_hosts.strip() + "\n")
                known_hosts = str(hosts)
        if not creds.ssh_key and not worker_identity:
            ssh += ["-o", "IdentityFile=none"]
        if known_hosts:
            ssh += ["-o", f"UserKnownHostsFile={known_hosts}"]
        ssh += ["-o", "StrictHostKeyChecking=yes"]
        # Only our own temporary paths reach this string, never user data.
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        yield env


def _remove_stale_key_dirs() -> None:
    """Key folders a killed process could not remove: none may outlive its git run for long."""
    now = time.time()
    for folder in _work_dir().glob("ssh-*"):
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > _STALE_KEY_DIR_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)


def _without_inherited(args: Sequence[str], env: dict[str, str]) -> list[str]:
    """`env -u NAME ... -- git ...`: GitPython always starts from os.environ; this drops what
    git must not see. Only variable names reach the argument list, never values."""
    drop = sorted(
        name for name in os.environ if name not in _INHERITED and name not in env and not name.startswith("LC_")
    )
    return ["env", *[part for name in drop for part in ("-u", name)], "--", *args]


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
        argv, options = _launch(args, env)
        try:
            return gitpython.Git(str(cwd) if cwd else None).execute(
                argv,
                env=env,
                kill_after_timeout=timeout,
                strip_newline_in_stdout=False,
                **options,
            )
        except gitpython.GitCommandError as error:
            raise GitError(creds.redact(explain_redirect(_describe(error)))) from None


_REFUSED_REDIRECT = re.compile(r"unable to access '(?P<url>[^']+)': The requested URL returned error: (?P<code>30\d)")


def explain_redirect(message: str) -> str:
    """git names only the status of a redirect it refused: ask the remote once where it pointed.

    The one request goes to the URL git printed (without credentials), follows nothing and is
    only made after git already reached that host.
    """
    found = _REFUSED_REDIRECT.search(message)
    if found is None:
        return message
    where = ""
    with contextlib.suppress(outbound.OutboundError):
        try:
            outbound.request("GET", found["url"].rstrip("/") + "/info/refs?service=git-upload-pack", about="the remote")
        except outbound.Redirected as redirect:
            where = redirect.location
    pointed = f": it pointed to {where}" if where else ""
    return f"The remote answered with a redirect (HTTP {found['code']}), which git does not follow{pointed}."


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


_SETPRIV = shutil.which("setpriv")


def _launch(args: Sequence[str], env: dict[str, str], *, own_group: bool = False) -> tuple[list[str], dict[str, Any]]:
    """The argument list and Popen options that make git die with the thread that starts it.

    util-linux's setpriv sets the parent-death signal and execs git, so no Python preexec_fn
    runs: the child then starts without copying the whole worker process (about 8 ms for a
    300 MB process, on every git call). Without setpriv, the preexec_fn does the same work.
    """
    argv = _without_inherited(args, env)
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], {"start_new_session": own_group}
    return argv, {"preexec_fn": _die_with(os.getpid(), own_group=own_group)}


def spawn(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> Any:
    """Start a long git command (a push) in its own process group.

    Returns GitPython's AutoInterrupt handle; keep it referenced while the process runs (it
    kills the process when collected). `.proc` is the Popen.
    """
    argv, options = _launch(args, env, own_group=True)
    return gitpython.Git(str(cwd)).execute(
        argv,
        env=env,
        as_process=True,
        with_stdout=True,
        **options,
    )


def kill_group(proc: Any) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
