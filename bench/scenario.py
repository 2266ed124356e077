"""One benchmark scenario per process: `python bench/scenario.py NAME BROKER` prints JSON last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, repos  # noqa: E402
from bench.harness import WORK, median  # noqa: E402
from bench.readside import app_cold, audit_csv, audit_pg, dashboard, insights  # noqa: E402, F401 - scenarios
from bench.tail import tail  # noqa: E402, F401 - a scenario, run by name below

BIG_COMMITS, BIG_BLOB = 20_000, 2_700  # about 54 MB of incompressible history
RUNS = 9  # a 60 MB push on 2 cores varies by about 10% from run to run: medians of 9


def _plain_push(mirror: Path, url: str, sha: str, password: str) -> float:
    """The floor: one `git push` of the same sha to the same kind of remote, same credentials path."""
    from projects import git

    with git.environment(git.Credentials(password=password)) as env:
        started = time.monotonic()
        subprocess.run(
            ["git", "-c", "credential.helper=", "push", "--quiet", url, f"{sha}:refs/heads/main"],
            cwd=mirror, env={**os.environ, **env}, check=True, capture_output=True,
        )  # fmt: skip
        return time.monotonic() - started


def deploy(broker: str) -> dict:
    data = harness.configure("deploy", broker)
    from django.utils import timezone

    from projects import mirror
    from projects.models import App, Target
    from tests.gitutil import bare_remote

    big = repos.generate(WORK / f"big-{BIG_COMMITS}-{BIG_BLOB}.git", commits=BIG_COMMITS, blob_bytes=BIG_BLOB)
    work_repo = data / "repo.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(big), str(work_repo)], check=True)
    client, _ = harness.api_client()
    app = App.objects.create(slug="big", name="Big", repo_url=str(work_repo))
    mirror.sync(app)  # warm mirror: the web's and the worker's (one DATA_DIR on this machine)
    served = data / "served"
    served.mkdir()
    result: dict = {"repo_commits": BIG_COMMITS, "repo_mb": round(repos.size_mb(work_repo), 1)}
    with harness.GitServerProcess(served) as server, harness.cluster(workers=2):
        head = repos.shas(work_repo)[0]
        plain, portal, pickups = [], [], []
        for run in range(RUNS):
            bare_remote(served / f"plain-{run}.git")
            bare_remote(served / f"portal-{run}.git")
            Target.objects.create(app=app, slug=f"t{run}", name=f"T{run}", remote_url=server.url(f"portal-{run}.git"),
                                  api_key_encrypted=_encrypted(server.password))  # fmt: skip
            # Alternate which goes first: the disk still writes back the previous 60 MB push.
            for side in ("plain", "portal") if run % 2 == 0 else ("portal", "plain"):
                if side == "plain":
                    plain.append(_plain_push(mirror.path(app), server.url(f"plain-{run}.git"), head, server.password))
                    continue
                started = timezone.now()
                done = harness.wait_finished([harness.request_deploy(client, "big", f"t{run}", head)])[0]
                assert done.status == "succeeded", done.reason
                portal.append((done.finished_at - started).total_seconds())
                pickups.append((done.started_at - done.created_at).total_seconds() * 1000)
        result.update(plain_first_s=median(plain), portal_first_s=median(portal))
        result["first_runs_s"] = {"plain": [round(x, 3) for x in plain], "portal": [round(x, 3) for x in portal]}
        result["deploy_overhead_ratio"] = round(median(portal) / median(plain), 3)
        # Incremental: 10 new commits onto what is live, portal and plain side by side.
        inc_plain, inc_portal = [], []
        for run in range(RUNS):
            new_head = repos.add_commits(work_repo, 10)
            mirror.sync(app)
            inc_plain.append(_plain_push(mirror.path(app), server.url(f"plain-{run}.git"), new_head, server.password))
            started = timezone.now()
            done = harness.wait_finished([harness.request_deploy(client, "big", f"t{run}", new_head)])[0]
            assert done.status == "succeeded", done.reason
            inc_portal.append((done.finished_at - started).total_seconds())
            pickups.append((done.started_at - done.created_at).total_seconds() * 1000)
        result.update(incremental_plain_s=median(inc_plain), incremental_portal_s=median(inc_portal))
        result["incremental_overhead_s"] = round(median(inc_portal) - median(inc_plain), 3)
        # Pickup: queued to running for small redeploys of what is live.
        for _ in range(10):
            done = harness.wait_finished([harness.request_deploy(client, "big", "t0", new_head)])[0]
            pickups.append((done.started_at - done.created_at).total_seconds() * 1000)
        result["pickup_ms"] = round(median(pickups), 1)
    return result


def register(broker: str) -> dict:
    """From `POST /api/apps` to a mirror the app page and deploys can use, beside `git clone --mirror`."""
    data = harness.configure("register", broker)
    from projects import mirror
    from projects.models import App

    big = repos.generate(WORK / f"big-{BIG_COMMITS}-{BIG_BLOB}.git", commits=BIG_COMMITS, blob_bytes=BIG_BLOB)
    client, _ = harness.api_client()
    plain, portal = [], []
    with harness.cluster(workers=2):
        for run in range(3):
            started = time.monotonic()
            plain_copy = data / f"plain-{run}.git"
            # --no-local: a real transfer, as the portal's fetch makes, not hard links
            subprocess.run(["git", "clone", "--quiet", "--mirror", "--no-local", str(big), str(plain_copy)], check=True)
            plain.append(time.monotonic() - started)
            started = time.monotonic()
            answer = client.post(
                "/api/apps", json.dumps({"slug": f"big{run}", "name": f"Big {run}", "repo_url": str(big)}),
                content_type="application/json",
            )  # fmt: skip
            assert answer.status_code == 201, answer.content
            app = App.objects.get(slug=f"big{run}")
            deadline = time.monotonic() + 1800
            while not mirror.exists(app):
                assert time.monotonic() < deadline, "the first clone never landed"
                time.sleep(0.05)
            portal.append(time.monotonic() - started)
    return {
        "ready_after_register_s": median(portal),
        "plain_clone_mirror_s": median(plain),
        "register_runs_s": {"plain": [round(x, 2) for x in plain], "portal": [round(x, 2) for x in portal]},
    }


def _encrypted(value: str) -> str:
    from portal import crypto

    return crypto.encrypt(value)


PAGE_COMMITS = 50_000
PAGE_DEPLOYMENTS = 100_000


def page(broker: str) -> dict:
    data = harness.configure("page", broker)
    import random

    from django.test import Client

    from deployments.models import Deployment
    from projects import mirror
    from projects.models import App, Target

    source = repos.generate(WORK / f"page-{PAGE_COMMITS}.git", commits=PAGE_COMMITS, blob_bytes=0)
    app = App.objects.create(slug="page", name="Page", repo_url=str(source))
    mirror.sync(app)
    targets = [Target.objects.create(app=app, slug=f"t{n}", name=f"T{n}", remote_url=str(data / f"r{n}.git"))
               for n in range(3)]  # fmt: skip
    all_shas = repos.shas(source)
    _, user = harness.api_client()
    client = Client()
    client.force_login(user)
    randomly = random.Random(7)

    def add_deployments(count: int) -> None:
        batch = []
        for n in range(count):
            target = targets[n % len(targets)]
            # Recent history is deployed more often, as in life.
            sha = all_shas[min(int(randomly.expovariate(1 / 2000)), len(all_shas) - 1)]
            batch.append(Deployment(app=app, target=target, sha=sha, ref=sha, status="succeeded",
                                    requested_by_name="bench", finished_at=None))  # fmt: skip
            if len(batch) == 5000:
                Deployment.objects.bulk_create(batch)
                batch = []
        Deployment.objects.bulk_create(batch)

    def time_page(url: str, runs: int = 20) -> float:
        for _ in range(3):
            assert client.get(url).status_code == 200
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return median(timings)

    for target in targets:
        Target.objects.filter(pk=target.pk).update(live_sha=all_shas[randomly.randrange(0, 100)])
    add_deployments(1000)
    at_1k = time_page("/apps/page/")
    add_deployments(PAGE_DEPLOYMENTS - 1000)
    at_100k = time_page("/apps/page/")
    seed = _seed_style_ms(app, runs=5)
    page_bytes = len(client.get("/apps/page/").content)
    return {
        "commits": PAGE_COMMITS, "deployments": Deployment.objects.count(),
        "app_page_ms_1k": round(at_1k, 1), "app_page_ms": round(at_100k, 1),
        "app_page_growth": round(at_100k / at_1k, 3), "seed_style_page_ms": round(seed, 1),
        "seed_style_page_ratio": round(seed / at_100k, 1), "app_page_bytes": page_bytes,
        "database": str(data / "db.sqlite3"),
    }  # fmt: skip


def _seed_style_ms(app, runs: int) -> float:
    """The seed's way: walk the whole branch with git log and scan every deployment, per request."""
    from deployments.models import Deployment
    from projects import git, mirror

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        out = git.run(git.command("log", "--format=%H%x1f%an%x1f%aI%x1f%s", "refs/heads/main"), cwd=mirror.path(app))
        commits = [line.split("\x1f") for line in out.splitlines()]
        deployed: dict[str, list] = {}
        for row in Deployment.objects.all().values("sha", "target_id", "status", "requested_by_name"):
            deployed.setdefault(row["sha"], []).append(row)
        page_rows = [(c, deployed.get(c[0], [])) for c in commits][:50]
        assert page_rows
        timings.append((time.perf_counter() - started) * 1000)
    return median(timings)


def makespan(broker: str) -> dict:
    data = harness.configure("makespan", broker)
    from projects.models import App, Target
    from tests.gitutil import Repo, bare_remote

    repo = Repo(data / "repo", commits=10)
    app = App.objects.create(slug="fleet", name="Fleet", repo_url=str(repo.path))
    hook = "#!/bin/sh\nsleep 1\necho '-----> Built'\n"
    for n in range(20):
        Target.objects.create(
            app=app, slug=f"t{n}", name=f"T{n}", remote_url=str(bare_remote(data / f"r{n}.git", hook))
        )
    client, _ = harness.api_client()
    with harness.cluster(workers=2):
        ids = [harness.request_deploy(client, "fleet", f"t{n}", repo.shas[round_])
               for round_ in range(10) for n in range(20)]  # fmt: skip
        rows = harness.wait_finished(ids, timeout=900)
    lost = sum(row.status != "succeeded" for row in rows)
    pushes = sum((row.finished_at - row.started_at).total_seconds() for row in rows if row.started_at)
    span = (max(row.finished_at for row in rows) - min(row.created_at for row in rows)).total_seconds()
    overlapping = 0
    for n in range(20):
        mine = sorted((row for row in rows if row.target.slug == f"t{n}"), key=lambda row: row.started_at)
        overlapping += sum(a.finished_at > b.started_at for a, b in zip(mine, mine[1:], strict=False))
    return {"deployments": len(rows), "makespan_s": round(span, 1), "ideal_s": round(pushes / 2, 1),
            "makespan_ratio": round(span / (pushes / 2), 3), "lost": lost, "overlapping": overlapping}  # fmt: skip


def rss(broker: str) -> dict:
    data = harness.configure("rss", broker)
    from projects.models import App, Target
    from tests.gitutil import Repo, bare_remote

    repo = Repo(data / "repo", commits=20)
    app = App.objects.create(slug="mem", name="Mem", repo_url=str(repo.path))
    for n in range(10):
        Target.objects.create(app=app, slug=f"t{n}", name=f"T{n}", remote_url=str(bare_remote(data / f"r{n}.git")))
    client, _ = harness.api_client()

    def wave(count: int, offset: int) -> None:
        ids = [harness.request_deploy(client, "mem", f"t{n % 10}", repo.shas[(offset + n) % 20]) for n in range(count)]
        rows = harness.wait_finished(ids, timeout=900)
        assert all(row.status == "succeeded" for row in rows), [row.reason for row in rows]

    with harness.cluster(workers=2, Q_RECYCLE="0") as proc:
        wave(20, 0)
        time.sleep(2)
        before = harness.rss_mb(proc.pid)
        for start in range(0, 300, 50):
            wave(50, start)
        time.sleep(2)
        after = harness.rss_mb(proc.pid)
    return {"rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "worker_rss_growth_mb": round(after - before, 1), "deployments": 320}  # fmt: skip


def web(broker: str) -> dict:
    """App-page requests per second from wrk against gunicorn with 2 workers (page scenario's data)."""
    import shutil

    from django.contrib.auth import get_user_model

    data = WORK / "runs" / "page-orm"
    if not (data / "db.sqlite3").exists() or not shutil.which("wrk"):
        return {"web_rps": None, "why": "needs the page scenario's data and wrk"}
    os.environ.update(DATA_DIR=str(data), SECRET_KEY="bench-only-secret", ENCRYPTION_KEY=harness.FERNET,
                      MIRROR_MAX_AGE="3600", DJANGO_SETTINGS_MODULE="portal.settings")  # fmt: skip
    import django

    django.setup()
    # A session of the configured backend: one naming another backend is anonymous, and wrk would
    # time the redirect to the login page.
    session_key = harness.session_cookie(get_user_model().objects.get(username="bench"))
    with harness.gunicorn("portal.wsgi", ready="/apps/page/", cookie=session_key) as port:
        url = f"http://127.0.0.1:{port}/apps/page/"
        # The page itself, signed in: a 200 with the commits and their buttons, not a login form.
        status, _, body = harness.get(port, "/apps/page/", session_key)
        if status != 200 or b"Deploy to" not in body or b"Sign in" in body:
            raise RuntimeError(f"the app page answered {status} without its deploy buttons")
        out = subprocess.run(
            ["wrk", "-t2", "-c8", "-d10s", "-H", f"Cookie: sessionid={session_key}", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    non_2xx = next((line for line in out.splitlines() if "Non-2xx" in line), "")
    if non_2xx:  # every answer must be the page: a redirect or an error is not a request served
        raise RuntimeError(f"wrk saw answers other than 200: {non_2xx.strip()}")
    return {"web_rps": round(rps, 1), "web_page_bytes": len(body), "web_status": status}


if __name__ == "__main__":
    name, broker = sys.argv[1], sys.argv[2]
    print(json.dumps(globals()[name](broker)))
