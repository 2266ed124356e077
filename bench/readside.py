"""The read side at size (issue 17): dashboard, insights, audit export and pages, the cold app page.

Each scenario is a function of bench/scenario.py's kind (`python bench/scenario.py NAME BROKER`),
measures its figure at two sizes and reports the growth beside it.
"""

from __future__ import annotations

import random
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import harness, repos
from bench.harness import WORK, median

SHA = "c" * 40


def _timed(client, url: str, runs: int, *, warm: int = 2) -> float:
    """Median milliseconds of `runs` GETs of `url`, each answered 200 (after `warm` unmeasured)."""
    for _ in range(warm):
        assert client.get(url).status_code == 200, url
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return median(timings)


def _signed_in(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def dashboard(broker: str) -> dict:
    """`/` at 100 and 500 apps, 4 targets each, 20 deployments per target."""
    harness.configure("dashboard", broker)
    from deployments.models import Deployment, Status
    from projects.models import App, Target

    _, user = harness.api_client()
    client = _signed_in(user)
    finished = datetime(2026, 1, 1, 10, tzinfo=UTC)

    def add_apps(start: int, count: int) -> None:
        apps = App.objects.bulk_create(
            App(slug=f"app-{n:04}", name=f"App {n:04}", repo_url="/nowhere") for n in range(start, start + count)
        )
        targets = Target.objects.bulk_create(
            Target(app=app, slug=f"t{t}", name=f"T{t}", remote_url=f"/nowhere/{app.slug}/{t}", live_sha=SHA)
            for app in apps
            for t in range(4)
        )
        Deployment.objects.bulk_create(
            (
                Deployment(
                    app_id=target.app_id,
                    target=target,
                    sha=SHA if n % 5 else "d" * 40,
                    ref="main",
                    status=Status.SUCCEEDED if n % 5 else Status.FAILED,
                    requested_by_name="bench",
                    started_at=finished + timedelta(minutes=n),
                    finished_at=finished + timedelta(minutes=n, seconds=40),
                )  # fmt: skip
                for target in targets
                for n in range(20)
            ),
            batch_size=2000,
        )

    add_apps(0, 100)
    at_100 = _timed(client, "/", runs=15)
    add_apps(100, 400)
    at_500 = _timed(client, "/", runs=15)
    return {
        "dashboard_ms_100": round(at_100, 1), "dashboard_ms_500": round(at_500, 1),
        "dashboard_growth": round(at_500 / at_100, 3), "apps": App.objects.count(),
        "deployments": Deployment.objects.count(),
    }  # fmt: skip


def insights(broker: str) -> dict:
    """`/apps/{app}/insights/` with 10k and 100k deployments inside its twelve weeks."""
    data = harness.configure("insights", broker)
    from django.utils import timezone

    from deployments.models import Deployment, Kind, Status
    from projects import mirror
    from projects.models import App, Target
    from tests.gitutil import Repo

    repo = Repo(data / "repo", commits=5)
    _, user = harness.api_client()
    client = _signed_in(user)
    randomly = random.Random(17)
    now = timezone.now()

    def app_with(slug: str, count: int) -> None:
        """An app of 4 targets whose `count` deployments finished over the last twelve weeks."""
        app = App.objects.create(slug=slug, name=slug.title(), repo_url=str(repo.path))
        mirror.sync(app)
        targets = [
            Target.objects.create(app=app, slug=f"t{n}", name=f"T{n}", remote_url=str(data / f"{slug}-{n}.git"))
            for n in range(4)
        ]
        # Rows are made in the order they finish, as in life (ids grow with time).
        times = sorted(now - timedelta(seconds=randomly.randrange(1, 83 * 24 * 3600)) for _ in range(count))
        batch = []
        for n, done in enumerate(times):
            roll = randomly.random()
            status = Status.FAILED if roll < 0.08 else Status.SUCCEEDED
            kind = Kind.ROLLBACK if 0.08 <= roll < 0.10 else Kind.DEPLOY
            batch.append(
                Deployment(
                    app=app,
                    target=targets[n % 4],
                    sha=repo.shas[n % 5],
                    ref="main",
                    status=status,
                    kind=kind,
                    requested_by_name="bench",
                    started_at=done - timedelta(seconds=40),
                    finished_at=done,
                    # What finishing stores (deployments/lead_time.py): hours to days after the commit.
                    lead_time_seconds=randomly.randrange(600, 5 * 24 * 3600) if status == Status.SUCCEEDED else None,
                )  # fmt: skip
            )
        Deployment.objects.bulk_create(batch, batch_size=5000)

    app_with("small", 10_000)
    app_with("busy", 100_000)
    at_10k = _timed(client, "/apps/small/insights/", runs=9)
    at_100k = _timed(client, "/apps/busy/insights/", runs=9)
    per_target = _timed(client, "/apps/busy/insights/?target=t1", runs=9)
    return {
        "insights_ms_10k": round(at_10k, 1), "insights_ms_100k": round(at_100k, 1),
        "insights_growth": round(at_100k / at_10k, 3), "insights_target_ms_100k": round(per_target, 1),
        "deployments": Deployment.objects.count(),
    }  # fmt: skip


ACTIONS = ("deployment.requested", "deployment.started", "deployment.succeeded", "auth.login", "target.locked")


def _audit_rows(start: int, count: int, *, apps: int):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(start, start + count):
        yield (
            base + timedelta(seconds=n * 30), f"user{n % 40}", ACTIONS[n % len(ACTIONS)], "web", "127.0.0.1",
            f"app-{n % apps}", "production", n, f"=Deployment {n} of a commit, with a comma and \"quotes\"",
        )  # fmt: skip


def _fill_audit(count: int, start: int, *, apps: int) -> None:
    """Audit rows straight into the table (the model's append-only rules allow inserts)."""
    from django.db import connection, transaction

    from portal.audit.models import AuditEvent

    table = AuditEvent._meta.db_table
    columns = "at, actor, action, source, ip, app, target, deployment, detail"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in _audit_rows(start, count, apps=apps):
                    copy.write_row(row)
        else:
            # As Django stores a time on SQLite: naive UTC text.
            made = _audit_rows(start, count, apps=apps)
            rows = ((at.replace(tzinfo=None).isoformat(" "), *rest) for at, *rest in made)
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    if connection.vendor == "postgresql":
        # What autovacuum does to a table that has grown: the planner's statistics, and the
        # visibility map that lets an index-only scan skip rows without reading them.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")


def audit_csv(broker: str) -> dict:
    """/audit/export.csv of 100k and 1M events, downloaded through gunicorn (its default 30 s
    worker timeout), every row counted; the workers' memory before and after."""
    harness.configure("auditcsv", broker)
    from django.db import connection

    _, user = harness.api_client()
    cookie = harness.session_cookie(user)
    result: dict = {}
    for size, more in ((100_000, 100_000), (1_000_000, 900_000)):
        _fill_audit(more, size - more, apps=10)
        connection.close()  # gunicorn's workers read the file; let nothing stay open here
        with harness.gunicorn("portal.wsgi", ready="/audit/?page=1", cookie=cookie) as port:
            rss_before = _gunicorn_rss_mb(port)
            started = time.monotonic()
            lines, tail, rss_peak = _download_lines(port, "/audit/export.csv", cookie)
            took = time.monotonic() - started
        expected = size + 1  # a header, then every event (at least the bench's)
        # Oldest last: the bench's first event (the session's sign-in was audited before it) ends the file.
        if lines < expected or "2025-01-01T00:00:00+00:00,user0," not in tail:
            raise RuntimeError(f"the export was cut: {lines} lines of {expected}, ending {tail[-200:]!r}")
        label = "1m" if size == 1_000_000 else "100k"
        result[f"audit_csv_{label}_s"] = round(took, 2)
        result[f"audit_csv_{label}_worker_rss_mb"] = {"before": rss_before, "peak": rss_peak}
    result["audit_csv_growth"] = round(result["audit_csv_1m_s"] / result["audit_csv_100k_s"], 2)
    return result


def _download_lines(port: int, path: str, cookie: str) -> tuple[int, str, float]:
    """Stream an answer, counting its lines; its last 4 kB, and the workers' peak memory."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    lines, tail, peak, checked = 0, b"", 0.0, time.monotonic()
    while chunk := response.read(1 << 16):
        lines += chunk.count(b"\n")
        tail = (tail + chunk)[-4096:]
        if time.monotonic() - checked > 0.5:
            peak, checked = max(peak, _gunicorn_rss_mb(port)), time.monotonic()
    conn.close()
    return lines, tail.decode(errors="replace"), round(peak, 1)


def _gunicorn_rss_mb(port: int) -> float:
    """Resident memory of the gunicorn workers serving `port` (the biggest one)."""
    out = subprocess.run(["pgrep", "-f", f"gunicorn.*127.0.0.1:{port}"], capture_output=True, text=True).stdout
    sizes = []
    for pid in out.split():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        sizes += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")]
    return round(max(sizes, default=0.0), 1)


def audit_pg(broker: str) -> dict:
    """/audit/?app=X&page=1000 on PostgreSQL with 1M events over 10 apps; beside it page 100 at
    100k and at 1M events (the growth with the table), page 1 and the API's page 1000."""
    harness.configure("auditpg", "redis")  # PostgreSQL (a database of its own), as in production
    from portal.audit.models import AuditEvent

    _, user = harness.api_client()
    client = _signed_in(user)
    _fill_audit(100_000, 0, apps=10)
    page_100_small = _timed(client, "/audit/?app=app-3&page=100", runs=15)
    _fill_audit(900_000, 100_000, apps=10)
    page_100_large = _timed(client, "/audit/?app=app-3&page=100", runs=15)
    deep = _timed(client, "/audit/?app=app-3&page=1000", runs=15)
    first = _timed(client, "/audit/?app=app-3", runs=15)
    api = _timed(client, "/api/audit?app=app-3&page=1000", runs=15)
    return {
        "audit_filtered_ms_pg": round(deep, 1), "audit_filtered_ms_pg_page1": round(first, 1),
        "audit_filtered_ms_pg_page100_100k": round(page_100_small, 1),
        "audit_filtered_ms_pg_page100_1m": round(page_100_large, 1),
        "audit_filtered_growth": round(page_100_large / page_100_small, 3),
        "audit_api_ms_pg_page1000": round(api, 1), "audit_rows": AuditEvent.objects.count(),
    }  # fmt: skip


COLD_COMMITS = 200_000
COLD_BEHIND = 100_000


def app_cold(broker: str) -> dict:
    """The first view of `/apps/{app}/` after a restart (a fresh gunicorn worker), 200k commits,
    one target live 100k commits behind the head; beside it the same with 1k behind."""
    data = harness.configure("appcold", broker)
    from django.core.cache import cache

    from deployments.models import Deployment, Status
    from projects import mirror
    from projects.models import App, Target

    source = repos.generate(WORK / f"cold-{COLD_COMMITS}.git", commits=COLD_COMMITS, blob_bytes=0)
    app = App.objects.create(slug="cold", name="Cold", repo_url=str(source))
    started = time.monotonic()
    mirror.sync(app)  # the first clone, and the ancestry index a worker's fetch keeps
    clone_s = time.monotonic() - started
    shas = repos.shas(source)
    _, user = harness.api_client()
    cookie = harness.session_cookie(user)
    targets = [Target.objects.create(app=app, slug=f"t{n}", name=f"T{n}", remote_url=str(data / f"r{n}.git"))
               for n in range(3)]  # fmt: skip
    for target, sha in zip(targets, (shas[COLD_BEHIND], shas[10], shas[0]), strict=True):
        Deployment.objects.create(app=app, target=target, sha=sha, ref=sha, status=Status.SUCCEEDED,
                                  requested_by_name="bench")  # fmt: skip
        Target.objects.filter(pk=target.pk).update(live_sha=sha)

    def first_views(runs: int) -> float:
        timings = []
        for _ in range(runs):
            with harness.gunicorn("portal.wsgi", ready="/healthz", cookie=cookie, workers=1) as port:
                began = time.perf_counter()
                status, _, body = harness.get(port, "/apps/cold/", cookie)
                timings.append((time.perf_counter() - began) * 1000)
                if status != 200 or b"Roll back" not in body:
                    raise RuntimeError(f"the app page answered {status} without its buttons")
        return median(timings)

    far = first_views(5)
    Target.objects.filter(pk=targets[0].pk).update(live_sha=shas[1000])
    near = first_views(5)
    Target.objects.filter(pk=targets[0].pk).update(live_sha=shas[COLD_BEHIND])
    cache.delete(f"ancestry:{app.pk}")  # what the page cost before the index: git walks the distance
    unindexed = first_views(3)
    return {
        "app_page_cold_ms": round(far, 1), "app_page_cold_ms_1k_behind": round(near, 1),
        "app_page_cold_growth": round(far / near, 3), "app_page_cold_ms_without_index": round(unindexed, 1),
        "first_clone_and_index_s": round(clone_s, 1), "commits": COLD_COMMITS, "behind": COLD_BEHIND,
    }  # fmt: skip
