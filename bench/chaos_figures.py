"""The figures of the chaos run, from the database, the remotes' hook logs and the web answers.

Pure functions of what bench/chaos.py collected; README "Fault run (make chaos)" says what each
figure means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Deployment:
    id: int
    target: str
    sha: str
    status: str
    reason: str
    worker: str
    started_at: float | None
    finished_at: float | None


@dataclass
class Fault:
    kind: str  # "kill" (a whole cluster), "kill-worker" (one process in a living cluster), "redis", "postgres"
    at: float
    end: float
    worker: str = ""  # kill: the worker name prefix ("alpha:") or the exact worker ("beta:1234")


@dataclass
class Answer:
    at: float  # when the request was sent
    done: float  # when its answer came (a request may wait in gunicorn's queue for seconds)
    status: int  # 0: no answer at all (connection refused or reset)
    explained: bool  # a 5xx that carries a sentence (503 page or JSON detail)
    path: str = ""


@dataclass
class Hooks:
    """What one remote's hooks logged: builds (pre-receive start and end) and landed ref updates."""

    builds: list[tuple[float, float, str]] = field(default_factory=list)
    landed: list[tuple[float, str, str]] = field(default_factory=list)  # (at, old, new)


def read_hooks(log: Path) -> Hooks:
    hooks, starts = Hooks(), {}
    for line in log.read_text().splitlines():
        parts = line.split()
        if parts[0] == "start":
            starts[parts[3]] = (float(parts[1]), parts[2])
        elif parts[0] == "end" and parts[3] in starts:
            began, sha = starts.pop(parts[3])
            hooks.builds.append((began, float(parts[1]), sha))
        elif parts[0] == "landed" and parts[4] == "refs/heads/main":
            hooks.landed.append((float(parts[1]), parts[2], parts[3]))
    # A build whose hook was killed has no end: it ran until at least its start.
    hooks.builds += [(began, began, sha) for began, sha in starts.values()]
    hooks.landed.sort()
    return hooks


def overlapping(hooks: dict[str, Hooks]) -> int:
    """Pairs of builds on one remote that ran at the same time."""
    count = 0
    for remote in hooks.values():
        spans = sorted(remote.builds)
        for n, (_, end, _) in enumerate(spans):
            count += sum(1 for start, _, _ in spans[n + 1 :] if start < end)
    return count


def _ref_at(remote: Hooks, moment: float) -> str:
    ref = ""
    for at, _, new in remote.landed:
        if at > moment:
            break
        ref = new
    return ref


def landed_ids(deployments: list[Deployment], hooks: dict[str, Hooks]) -> set[int]:
    """The deployments the remotes took: each landing belongs to the latest deployment of its
    target and sha that had started by then."""
    found = set()
    for target, remote in hooks.items():
        mine = sorted((d for d in deployments if d.target == target and d.started_at), key=lambda d: d.started_at)
        for at, _, new in remote.landed:
            owners = [d for d in mine if d.sha == new and d.started_at <= at]
            if owners:
                found.add(owners[-1].id)
    return found


def recorded_wrong(deployments: list[Deployment], hooks: dict[str, Hooks]) -> list[int]:
    """Failed yet landed, or succeeded yet never received (and not already there when it started)."""
    landed = landed_ids(deployments, hooks)
    wrong = []
    for d in deployments:
        remote = hooks.get(d.target)
        if remote is None or d.started_at is None:
            continue
        failed_yet_landed = d.status in ("failed", "cancelled") and d.id in landed
        never_received = d.status == "succeeded" and d.id not in landed and _ref_at(remote, d.started_at) != d.sha
        if failed_yet_landed or never_received:
            wrong.append(d.id)
    return wrong


def remote_mismatch(deployments: list[Deployment], refs: dict[str, str]) -> list[str]:
    """Targets whose remote ref is not the sha of their last succeeded deployment."""
    wrong = []
    for target, ref in refs.items():
        done = sorted((d for d in deployments if d.target == target and d.status == "succeeded"),
                      key=lambda d: d.finished_at or 0)  # fmt: skip
        if (done[-1].sha if done else "") != ref:
            wrong.append(target)
    return wrong


def max_recovery(deployments: list[Deployment], faults: list[Fault], now: float) -> float:
    """The longest a deployment running when a fault struck it stayed running after the fault."""
    longest = 0.0
    for fault in faults:
        for d in deployments:
            if d.started_at is None or d.started_at > fault.at:
                continue
            if d.finished_at is not None and d.finished_at <= fault.at:
                continue
            if fault.kind == "kill" and not d.worker.startswith(fault.worker):
                continue
            if fault.kind == "kill-worker" and d.worker != fault.worker:
                continue
            longest = max(longest, (d.finished_at or now) - fault.at)
    return round(longest, 1)


def web_figures(answers: list[Answer], faults: list[Fault], margin: float) -> tuple[int, int]:
    """(5xx or no answer outside the database and broker outages, bare 500s inside them)."""
    windows = [(f.at, f.end + margin) for f in faults if f.kind in ("redis", "postgres")]
    outside = inside = 0
    for answer in answers:
        during = any(answer.at <= end and answer.done >= start for start, end in windows)
        failed = answer.status == 0 or answer.status >= 500
        if not during and failed:
            outside += 1
        elif during and answer.status >= 500 and (answer.status != 503 or not answer.explained):
            inside += 1
    return outside, inside


def figures(
    *,
    accepted: set[int],
    deployments: list[Deployment],
    hooks: dict[str, Hooks],
    refs: dict[str, str],
    faults: list[Fault],
    answers: list[Answer],
    stuck_at: float,
    now: float,
    duration: float,
    margin: float,
) -> dict:
    mine = [d for d in deployments if d.id in accepted]
    outside, inside = web_figures(answers, faults, margin)
    return {
        "requests": len(accepted),
        "terminal": sum(d.status in TERMINAL for d in mine),
        "succeeded": sum(d.status == "succeeded" for d in mine),
        "failed_with_cause": sum(d.status == "failed" and bool(d.reason.strip()) for d in mine),
        "stuck": sum(d.status not in TERMINAL and now >= stuck_at for d in mine),
        "overlapping": overlapping(hooks),
        "remote_mismatch": len(remote_mismatch(deployments, refs)),
        "recorded_wrong": len(recorded_wrong(mine, hooks)),
        "max_recovery_s": max_recovery(mine, faults, now),
        "web_5xx_outside_faults": outside,
        "web_500_during_faults": inside,
        "duration_s": round(duration, 1),
    }
