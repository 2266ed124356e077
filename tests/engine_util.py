"""Helpers for the deploy engine tests: remotes whose hook waits or records, and /proc reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.gitutil import bare_remote

# A pre-receive hook that records when each push starts and ends (with its pid) and waits
# for a `release` file, at most about 60 s, so a test decides how long a push lasts.
_GATE_HOOK = """#!/bin/sh
while read old new ref; do
  echo "start $new $$ $(date +%s.%N)" >> {dir}/events
  echo "-----> Building $new"
  i=0
  while [ ! -e {dir}/release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
  echo "end $new $$ $(date +%s.%N)" >> {dir}/events
  echo "Verifying deploy... done."
done
"""


@dataclass(frozen=True)
class Event:
    what: str  # "start" or "end"
    sha: str
    pid: int
    at: float


class Gate:
    """A bare remote whose pushes hold in the hook until `release()`."""

    def __init__(self, root: Path, *, released: bool = False) -> None:
        self.dir = root / "gate"
        self.dir.mkdir(parents=True)
        self.remote = bare_remote(root / "gated.git", _GATE_HOOK.format(dir=self.dir))
        if released:
            self.release()

    def release(self) -> None:
        (self.dir / "release").touch()

    def events(self) -> list[Event]:
        path = self.dir / "events"
        if not path.exists():
            return []
        found = []
        for line in path.read_text().splitlines():
            what, sha, pid, at = line.split()
            found.append(Event(what, sha, int(pid), float(at)))
        return found

    def started(self) -> list[Event]:
        return [event for event in self.events() if event.what == "start"]

    def ended(self) -> list[Event]:
        return [event for event in self.events() if event.what == "end"]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet collected, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append((int(entry), cmdline.strip()))
    return found
