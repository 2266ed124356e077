"""`make chaos`: deployments under inflicted faults, on the machine's real PostgreSQL and Redis.

gunicorn and two `qcluster` processes (separate DATA_DIRs, default engine settings) serve 100
deployments over 10 targets, requested by 5 concurrent API clients over about two minutes (a
refused request is retried with the same Idempotency-Key until accepted), to bare remotes whose
hooks take 0.5-3 s and log what they received. Meanwhile 20 readers load the dashboard and app
pages, and the run inflicts: kill -9 of one worker cluster (restarted at once), Redis restarted,
kill -9 of one pushing worker process inside the other cluster, PostgreSQL restarted, kill -9 of
the first cluster again. It then waits until every deployment ended (or 3 minutes after the last
fault) and prints its figures, the last line one JSON object (README "Fault run").

`--quick`: 20 deployments over 5 targets and the two kills only (no service restart), for
developing the run without disturbing anyone else's use of PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import chaos_world as world  # noqa: E402
from bench.chaos_figures import Answer, Deployment, Fault, figures, read_hooks  # noqa: E402

STUCK_AFTER = 180.0  # a deployment not ended 3 minutes after the last fault is stuck
WEB_MARGIN = 5.0  # seconds after an outage during which the web may still answer 503
READERS = 20
CLIENTS = 5


class Run:
    def __init__(self, *, quick: bool, seed: int, faults: bool) -> None:
        self.quick, self.outages = quick, faults
        self.random = random.Random(seed)
        self.requests = 20 if quick else 100
        self.targets = [f"t{n}" for n in range(5 if quick else 10)]
        self.spread = 40.0 if quick else 120.0
        self.answers: list[Answer] = []
        self.accepted: set[int] = set()
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.procs = threading.Lock()
        self.stop_reading = threading.Event()

    # --- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        world.fresh()
        os.environ.update(world.base_env(world.WORK / "harness"))
        (world.WORK / "harness").mkdir(exist_ok=True)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model
        from django.test import Client

        from portal.models import ApiToken
        from projects.models import Access, App, Role, Target

        repo, self.shas = world.make_repo(12)
        user = get_user_model().objects.create_user("chaos", password="chaos-Password-1")
        app = App.objects.create(slug="fleet", name="Fleet", repo_url=str(repo))
        Access.objects.create(app=app, user=user, role=Role.DEPLOYER)
        self.remotes = {}
        for slug in self.targets:
            self.remotes[slug] = world.make_remote(slug)
            Target.objects.create(app=app, slug=slug, name=slug.upper(), remote_url=str(self.remotes[slug]))
        _, self.token = ApiToken.issue(user=user, name="chaos")
        browser = Client()
        browser.force_login(user)
        self.session = browser.cookies["sessionid"].value
        self.port = world.free_port()
        self.web = world.web(self.port)
        self.alpha, self.beta = world.cluster("alpha"), world.cluster("beta")
        for proc in (self.web, self.alpha, self.beta):
            proc.start()
        if not world.wait_until(lambda: self._get("/healthz")[0] == 200, 60):
            raise RuntimeError("gunicorn did not answer /healthz within 60 s")
        if not world.wait_until(lambda: b'"workers": 2' in self._get("/healthz")[1], 60, every=1):
            raise RuntimeError("the two worker clusters did not report in within 60 s")

    # --- HTTP -----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        except OSError:
            return 0, b""
        finally:
            conn.close()

    def _get(self, path: str):
        return self._call("GET", path)

    def _record(self, at: float, status: int, body: bytes, path: str) -> None:
        explained = b"Bartender cannot reach its" in body or (status == 503 and b'"detail"' in body)
        with self.lock:
            self.answers.append(Answer(at=at, done=time.time(), status=status, explained=explained, path=path))

    # --- load -----------------------------------------------------------------------------------
    def client(self, number: int, start: float) -> None:
        mine = self.requests // CLIENTS
        for n in range(mine):
            when = start + (n + self.random.random()) * self.spread / mine
            time.sleep(max(0.0, when - time.time()))
            target, sha = self.random.choice(self.targets), self.random.choice(self.shas)
            key = f"chaos-{number}-{n}-{uuid.uuid4().hex[:8]}"
            body = json.dumps({"ref": sha, "note": f"chaos client {number}"}).encode()
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                       "Idempotency-Key": key}  # fmt: skip
            deadline = time.time() + 600
            while time.time() < deadline:
                at = time.time()
                status, answer = self._call("POST", f"/api/apps/fleet/targets/{target}/deployments", body, headers)
                self._record(at, status, answer, "POST deployments")
                if status == 202:
                    with self.lock:
                        self.accepted.add(json.loads(answer)["id"])
                    break
                time.sleep(1.0)  # refused (503, a dropped connection): the same key again

    def reader(self) -> None:
        pages = ["/", "/apps/fleet/", *[f"/apps/fleet/targets/{slug}/" for slug in self.targets]]
        headers = {"Cookie": f"sessionid={self.session}"}
        while not self.stop_reading.is_set():
            at = time.time()
            page = self.random.choice(pages)
            status, body = self._call("GET", page, headers=headers)
            self._record(at, status, body, page)
            self.stop_reading.wait(1.0)

    # --- faults ---------------------------------------------------------------------------------
    def _running_in_hook(self, prefix: str, timeout: float = 20) -> tuple[str, int] | None:
        """A deployment of worker `prefix` whose push is in its remote's build now: (worker, id)."""
        from django.db import close_old_connections, connection

        from deployments.models import Deployment as Row

        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                close_old_connections()
                rows = list(Row.objects.filter(status="running", worker__startswith=prefix).values_list(
                    "worker", "id", "sha", "target__slug"))  # fmt: skip
            except Exception:
                connection.close()
                rows = []
            for worker, pk, sha, slug in rows:
                log = (world.WORK / "remotes" / f"{slug}.log").read_text().splitlines()
                started = [line for line in log if line.startswith("start") and sha in line]
                ended = [line for line in log if line.startswith("end") and sha in line]
                if len(started) > len(ended):
                    return worker, pk
            time.sleep(0.2)
        return None

    def supervise(self) -> None:
        """What systemd's Restart=always does: a process that exited by itself is started again."""
        while not self.stop_reading.wait(1.0):
            with self.procs:
                for proc in (self.web, self.alpha, self.beta):
                    if proc.proc is not None and proc.proc.poll() is not None:
                        print(f"  {time.time() - self.t0:6.1f}s {proc.name} exited by itself "
                              f"({proc.proc.returncode}); restarted", flush=True)  # fmt: skip
                        proc.start()

    def kill_cluster(self, proc: world.Proc) -> None:
        self._running_in_hook(f"{proc.name}:")
        at = time.time()
        with self.procs:
            proc.kill()
            proc.start()  # restarted at once, as a supervisor would
        self.faults.append(Fault("kill", at, time.time(), worker=f"{proc.name}:"))
        print(f"  {at - self.t0:6.1f}s kill -9 of the {proc.name} cluster; restarted", flush=True)

    def kill_worker(self, proc: world.Proc) -> None:
        found = self._running_in_hook(f"{proc.name}:")
        if found is None:
            print(f"  no push of {proc.name} to kill in time", flush=True)
            return
        worker, pk = found
        at = time.time()
        try:
            os.kill(int(worker.rpartition(":")[2]), signal.SIGKILL)
        except ProcessLookupError:
            return
        self.faults.append(Fault("kill-worker", at, at, worker=worker))
        print(f"  {at - self.t0:6.1f}s kill -9 of worker {worker} pushing #{pk} (its cluster lives)", flush=True)

    def outage(self, kind: str, restart) -> None:
        at = time.time()
        restart()
        self.faults.append(Fault(kind, at, time.time()))
        print(f"  {at - self.t0:6.1f}s {kind} restarted, back after {time.time() - at:.1f} s", flush=True)

    def inflict(self) -> None:
        plan = [(0.15, lambda: self.kill_cluster(self.alpha)), (0.5, lambda: self.kill_worker(self.beta)),
                (0.8, lambda: self.kill_cluster(self.alpha))]  # fmt: skip
        if self.outages:
            plan = [(0.12, lambda: self.kill_cluster(self.alpha)),
                    (0.3, lambda: self.outage("redis", world.restart_redis)),
                    (0.48, lambda: self.kill_worker(self.beta)),
                    (0.62, lambda: self.outage("postgres", world.restart_postgres)),
                    (0.8, lambda: self.kill_cluster(self.alpha))]  # fmt: skip
        for share, act in plan:
            time.sleep(max(0.0, self.t0 + share * self.spread - time.time()))
            act()

    # --- the run --------------------------------------------------------------------------------
    def run(self) -> dict:
        began = time.time()
        print("Setting up: database, repository, remotes, gunicorn, two worker clusters.", flush=True)
        self.setup()
        self.t0 = time.time()
        print(f"Load: {self.requests} deployments over {len(self.targets)} targets from {CLIENTS} clients "
              f"over {self.spread:.0f} s, {READERS} readers; faults:", flush=True)  # fmt: skip
        readers = [threading.Thread(target=self.reader, daemon=True) for _ in range(READERS)]
        clients = [threading.Thread(target=self.client, args=(n, self.t0)) for n in range(CLIENTS)]
        for thread in [*readers, *clients, threading.Thread(target=self.supervise, daemon=True)]:
            thread.start()
        self.inflict()
        for thread in clients:
            thread.join()
        last_fault = max((f.end for f in self.faults), default=self.t0)
        stuck_at = last_fault + STUCK_AFTER
        print(f"Accepted {len(self.accepted)}; waiting for every deployment to end.", flush=True)
        world.wait_until(lambda: self._all_ended() or time.time() >= stuck_at, STUCK_AFTER + 600, every=1)
        self.stop_reading.set()
        for thread in readers:
            thread.join(timeout=70)
        now = time.time()
        deployments = self._deployments()
        hooks = {slug: read_hooks(world.WORK / "remotes" / f"{slug}.log") for slug in self.targets}
        refs = {slug: _ref(path) for slug, path in self.remotes.items()}
        self._explain(deployments, hooks)
        return figures(
            accepted=self.accepted, deployments=deployments, hooks=hooks, refs=refs, faults=self.faults,
            answers=self.answers, stuck_at=stuck_at, now=now, duration=now - began, margin=WEB_MARGIN,
        )  # fmt: skip

    def _all_ended(self) -> bool:
        try:
            rows = self._deployments()
        except Exception:
            return False
        return all(d.status in ("succeeded", "failed", "cancelled") for d in rows if d.id in self.accepted)

    def _deployments(self) -> list[Deployment]:
        from django.db import close_old_connections, connection

        from deployments.models import Deployment as Row

        close_old_connections()
        try:
            rows = Row.objects.select_related("target").order_by("id")
            return [
                Deployment(
                    id=r.pk,
                    target=r.target.slug,
                    sha=r.sha,
                    status=r.status,
                    reason=r.reason,
                    worker=r.worker,
                    started_at=r.started_at.timestamp() if r.started_at else None,
                    finished_at=r.finished_at.timestamp() if r.finished_at else None,
                )  # fmt: skip
                for r in rows
            ]
        except Exception:
            connection.close()
            raise

    def _explain(self, deployments: list[Deployment], hooks) -> None:
        from bench.chaos_figures import recorded_wrong

        failed = [d for d in deployments if d.status == "failed"]
        reasons: dict[str, int] = {}
        for d in failed:
            reasons[d.reason[:80]] = reasons.get(d.reason[:80], 0) + 1
        print(f"Failed deployments by cause: {reasons or 'none'}")
        wrong = recorded_wrong([d for d in deployments if d.id in self.accepted], hooks)
        if wrong:
            print(f"Recorded wrong: {wrong}")
        windows = [(f.at, f.end + WEB_MARGIN) for f in self.faults if f.kind in ("redis", "postgres")]
        odd = [a for a in self.answers if a.status == 0 or a.status >= 500]
        print(f"Web answers that failed (5xx or none): {len(odd)}, the first ones:")
        for a in odd[:10]:
            during = any(a.at <= end and a.done >= start for start, end in windows)
            print(f"  web {a.status} at {a.at - self.t0:.1f}s {a.path} ({'during' if during else 'outside'} faults)")
        print(f"Web answers: {len(self.answers)}; logs in {world.WORK / 'logs'}")

    def stop(self) -> None:
        self.stop_reading.set()
        for proc in (getattr(self, name, None) for name in ("alpha", "beta", "web")):
            if proc is not None:
                proc.stop()


def _ref(remote: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "refs/heads/main"], cwd=remote,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 deployments, kills only, no service restarts")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--faults", action="store_true", help="with --quick: restart Redis and PostgreSQL too")
    parser.add_argument("--private", action="store_true", help="PostgreSQL and Redis of its own (developing the run)")
    options = parser.parse_args()
    if options.private:
        world.use_private_servers()
    run = Run(quick=options.quick, seed=options.seed, faults=options.faults or not options.quick)
    try:
        result = run.run()
    finally:
        run.stop()
        # Whatever happened, the machine's PostgreSQL and Redis are left answering.
        if not options.private:
            subprocess.run(["bash", str(world.ROOT / "scripts" / "services.sh")], capture_output=True)
    bar = {"stuck": 0, "overlapping": 0, "remote_mismatch": 0, "recorded_wrong": 0, "web_5xx_outside_faults": 0,
           "web_500_during_faults": 0}  # fmt: skip
    met = result["terminal"] == result["requests"] and all(result[k] == v for k, v in bar.items())
    met = met and result["max_recovery_s"] <= 30
    print("The bar is met." if met else "The bar is NOT met.")
    print(json.dumps(result))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
