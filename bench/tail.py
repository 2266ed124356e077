"""The deployment page's tail under many viewers: its latency, and the git processes it starts.

50 pollers, each a logged-in session doing what static/deployment.js does (ask for the lines
after the last one, wait a second after each answer), follow one running deployment of a
20,000-commit app while the "worker" keeps appending lines. The web process is gunicorn serving
bench.gitcount, which counts every git process it starts: the tail must start none.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from bench import harness, repos
from bench.harness import WORK, median, percentile

TAIL_COMMITS = 20_000
POLLERS = 50
POLLS = 20  # per poller: a bounded run of about POLLS seconds
EVERY = 1.0  # the page's pause between an answer and its next poll
LINES = 300  # printed before the viewers arrive
NEW_LINE_EVERY = 0.1  # the push keeps printing while they watch


def tail(broker: str) -> dict:
    data = harness.configure("tail", broker)
    from django.db import connection
    from django.utils import timezone

    from deployments.models import Deployment, LogLine
    from projects import mirror
    from projects.models import App, Target

    source = repos.generate(WORK / f"tail-{TAIL_COMMITS}.git", commits=TAIL_COMMITS, blob_bytes=0)
    app = App.objects.create(slug="tail", name="Tail", repo_url=str(source))
    mirror.sync(app)  # the web process shares this DATA_DIR: git could read the commit and changes
    target = Target.objects.create(app=app, slug="production", name="Production", remote_url=str(data / "r.git"))
    shas = repos.shas(source)
    _, user = harness.api_client()
    deployment = Deployment.objects.create(
        app=app, target=target, sha=shas[0], ref="main", previous_sha=shas[200], status="running",
        started_at=timezone.now(), heartbeat_at=timezone.now(), requested_by=user, requested_by_name=user.username,
    )  # fmt: skip
    LogLine.objects.bulk_create(
        LogLine(deployment=deployment, n=n, text=f"remote: \x1b[1;32m-----> Step {n}\x1b[0m: compiling assets")
        for n in range(1, LINES + 1)
    )
    cookie = harness.session_cookie(user)
    counter = data / "git-calls.log"
    url = f"/deployments/{deployment.pk}/tail"
    with harness.gunicorn("bench.gitcount:application", ready=url, cookie=cookie, BENCH_GIT_CALLS=str(counter)) as port:
        counter.write_text("")  # count the polls only, not the readiness check
        timings: list[float] = []
        problems: list[str] = []
        stop = threading.Event()
        writer = threading.Thread(target=_print_lines, args=(deployment, stop))
        pollers = [
            threading.Thread(target=_poll, args=(port, url, cookie, n * EVERY / POLLERS, timings, problems))
            for n in range(POLLERS)
        ]
        started = time.monotonic()
        writer.start()
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join()
        elapsed = time.monotonic() - started
        stop.set()
        writer.join()
        tail_git_calls = _count(counter)
        # The counter must see git, or a 0 above proves nothing: the full page reads the commit.
        status, _, _ = harness.get(port, f"/deployments/{deployment.pk}/", cookie)
        page_git_calls = _count(counter) - tail_git_calls
    connection.close()
    if problems:
        raise RuntimeError(f"{len(problems)} polls were not 200 JSON answers, e.g. {problems[0]}")
    if status != 200 or page_git_calls == 0:
        raise RuntimeError(f"the git counter is not wired (page {status}, {page_git_calls} git calls)")
    return {
        "tail_ms": round(median(timings), 1), "tail_p95_ms": round(percentile(timings, 0.95), 1),
        "tail_git_calls": tail_git_calls, "page_git_calls": page_git_calls, "tail_requests": len(timings),
        "tail_rps": round(len(timings) / elapsed, 1), "pollers": POLLERS, "commits": TAIL_COMMITS,
        "log_lines": LogLine.objects.filter(deployment=deployment).count(),
    }  # fmt: skip


def _poll(port: int, url: str, cookie: str, delay: float, timings: list[float], problems: list[str]) -> None:
    """One viewer: from the page's last line on, POLLS polls a second apart, as the page does."""
    time.sleep(delay)  # viewers arrive spread over a second, not in lockstep
    after = LINES
    for _ in range(POLLS):
        started = time.perf_counter()
        status, kind, body = harness.get(port, f"{url}?after={after}", cookie)
        took = (time.perf_counter() - started) * 1000
        if status != 200 or not kind.startswith("application/json"):
            problems.append(f"{status} {kind}")  # a login redirect would be a 302 to text/html
            return
        timings.append(took)
        after = json.loads(body)["after"]
        time.sleep(EVERY)


def _print_lines(deployment, stop: threading.Event) -> None:
    """The pushing worker's side: a new line every NEW_LINE_EVERY seconds while viewers poll."""
    from django.db import connection

    from deployments.models import LogLine

    n = LINES
    try:
        while not stop.wait(NEW_LINE_EVERY):
            n += 1
            LogLine.objects.create(deployment=deployment, n=n, text=f"remote:        Compiled chunk {n}")
    finally:
        connection.close()


def _count(counter: Path) -> int:
    return len(counter.read_text().splitlines())
