"""Pushing a sha to a target's remote: a compare-and-swap streamed line by line.

The lease is read from the remote (`ls-remote`) just before each push, never from the
database: a push whose worker died may still have landed.
"""

from __future__ import annotations

import os
import re
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from projects import git
from projects.git import Credentials, GitError, explain_redirect

_KILL_GRACE = 10.0
_TICK_SECONDS = 1.0


MAX_LINE = 64 * 1024
CUT_MARK = " [line cut at 64 KiB]"


class LineSplitter:
    """Bytes in, finished lines out. A line rewritten with `\\r` keeps its last state.

    Each byte is looked at once, and a line holds at most MAX_LINE bytes: a longer one is given
    out at once, cut and marked, and the rest of it is dropped up to the next `\\r` or `\\n`.
    A remote that prints megabytes without a newline costs linear time and bounded memory.
    """

    def __init__(self) -> None:
        self._state = bytearray()  # the state of the line being written, since its last \r
        self._blank = True  # _state is only whitespace so far
        self._last = b""  # the line's newest finished state that was not blank
        self._dropping = False  # in the rest of a line given out cut, up to its next \r or \n
        self._cut = False  # this line was given out cut: its end adds no line of its own

    @property
    def pending(self) -> int:
        """Bytes held for the unfinished line."""
        return len(self._state) + len(self._last)

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        parts = re.split(rb"([\r\n])", data)  # text, separator, text, ..., text
        for at in range(0, len(parts), 2):
            self._add(parts[at], lines)
            if at + 1 < len(parts):
                if parts[at + 1] == b"\n":
                    self._end_line(lines)
                else:
                    self._end_state()
        return lines

    def flush(self) -> list[str]:
        state = self._current()
        self._reset()
        return [_text(state)] if state.strip() else []

    def _add(self, text: bytes, lines: list[str]) -> None:
        if self._dropping or not text:
            return
        self._state += text[: MAX_LINE + 1 - len(self._state)]
        if self._blank and not text.isspace():
            self._blank = False
        if len(self._state) > MAX_LINE:
            lines.append(_text(bytes(self._state)))
            self._reset()
            self._dropping = self._cut = True

    def _end_state(self) -> None:
        """A `\\r`: what follows rewrites the line; a blank state does not replace the last one."""
        if not self._blank:
            self._last = bytes(self._state)
        self._state, self._blank, self._dropping = bytearray(), True, False

    def _end_line(self, lines: list[str]) -> None:
        state = self._current()
        if not (self._cut and not state.strip()):
            lines.append(_text(state))
        self._reset()

    def _current(self) -> bytes:
        return self._last if self._blank else bytes(self._state)

    def _reset(self) -> None:
        self._state, self._blank, self._last = bytearray(), True, b""
        self._dropping = self._cut = False


def _text(line: bytes) -> str:
    return _decode(line[:MAX_LINE]) + CUT_MARK if len(line) > MAX_LINE else _decode(line)


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip()


@dataclass(frozen=True)
class PushResult:
    ok: bool
    reason: str = ""
    stopped: str = ""  # "cancelled", "timed out", ... when we ended git ourselves
    started: bool = True  # False: stopped before git push ran, so nothing was pushed


def remote_sha(url: str, ref: str, creds: Credentials) -> str:
    """The sha `ref` has on the remote now, or '' when the ref does not exist there."""
    out = git.run(git.command("ls-remote", "--end-of-options", url, ref), creds=creds, timeout=120)
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    return ""


def push(
    *,
    mirror: Path,
    url: str,
    sha: str,
    push_ref: str,
    lease: str,
    creds: Credentials,
    on_lines: Callable[[list[str]], None],
    tick: Callable[[], str | None],
) -> PushResult:
    """Push `sha` to `push_ref` if the remote still holds `lease` there.

    `tick` runs before git starts and about once a second while it runs; a non-empty answer
    ends git (the whole process group) and is reported as `stopped`. A `+` refspec would
    override the lease, so none is used: the lease alone allows the non-fast-forward of a
    rollback.
    """
    stopped = tick() or ""  # a cancel or stop that came while the remote was being read
    if stopped:
        return PushResult(ok=False, reason=stopped, stopped=stopped, started=False)
    args = git.command(
        "push",
        "--progress",
        "--no-verify",
        f"--force-with-lease={push_ref}:{lease}",
        "--end-of-options",
        url,
        f"{sha}:{push_ref}",
    )
    with git.environment(creds) as env:
        handle = git.spawn(args, cwd=mirror, env=env)
        proc = handle.proc
        try:
            stopped, tail = _follow(proc, creds, on_lines, tick)
            code = proc.wait(timeout=_KILL_GRACE)
        finally:
            # Whatever happened here (a database error in on_lines, a signal), git never outlives
            # the push call: the whole group goes, helpers included.
            if proc.poll() is None:
                git.kill_group(proc)
                proc.wait(timeout=_KILL_GRACE)
            proc.stdout.close()
            proc.stderr.close()
    if stopped:
        return PushResult(ok=False, reason=stopped, stopped=stopped)
    if code == 0:
        return PushResult(ok=True)
    return PushResult(ok=False, reason=_reason(tail, code))


def _follow(
    proc, creds: Credentials, on_lines: Callable[[list[str]], None], tick: Callable[[], str | None]
) -> tuple[str, list[str]]:
    """Stream git's output to `on_lines` until it exits; end its group when `tick` says so."""
    streams = {proc.stdout.fileno(): LineSplitter(), proc.stderr.fileno(): LineSplitter()}
    stopped, killed_at, last_tick, tail = "", 0.0, time.monotonic(), []
    while streams:
        ready, _, _ = select.select(list(streams), [], [], 0.2)
        lines: list[str] = []
        for fd in ready:
            data = os.read(fd, 65536)
            lines += streams[fd].feed(data) if data else streams.pop(fd).flush()
        if lines:
            lines = [creds.redact(line) for line in lines]
            tail = (tail + lines)[-20:]
            on_lines(lines)
        now = time.monotonic()
        if not stopped and now - last_tick >= _TICK_SECONDS:
            last_tick = now
            stopped = tick() or ""
            if stopped:
                git.kill_group(proc)
                killed_at = now
        if killed_at and now - killed_at > _KILL_GRACE:
            break  # something outside the group kept the pipes open; the group is dead, stop waiting
    return stopped, tail


def _reason(tail: list[str], code: int) -> str:
    """One sentence for why git push failed, from the last lines it printed."""
    for line in reversed(tail):
        found = re.match(r"^ ! \[(?P<what>[^\]]+)\].*?(?:\((?P<why>.+)\))?$", line)
        if found:
            why = found["why"] or found["what"]
            if why == "stale info":
                return "The remote changed after it was read (stale info); nothing was pushed."
            return f"The remote refused the push: {why}."
    for line in reversed(tail):
        if line.startswith(("fatal:", "error:")):
            text = explain_redirect(line.split(":", 1)[1].strip())
            return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    return f"git push exited with status {code}."


__all__ = ["GitError", "LineSplitter", "PushResult", "push", "remote_sha"]
