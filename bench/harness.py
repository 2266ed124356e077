"""What every benchmark scenario needs: a configured Django, a worker cluster, timed deploys."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
FERNET = "YmVuY2gtb25seS1rZXktZm9yLWJhcnRlbmRlci1ydW4="  # base64 of 32 bytes, bench only
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"


def configure(name: str, broker: str) -> Path:
    """Fresh DATA_DIR (and database) for one scenario, then django.setup() and migrate."""
    data = WORK / "runs" / f"{name}-{broker}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = {"DATA_DIR": str(data), "SECRET_KEY": "bench-only-secret", "ENCRYPTION_KEY": FERNET,
           "MIRROR_MAX_AGE": "3600", "DJANGO_SETTINGS_MODULE": "portal.settings",
           "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver"}  # fmt: skip
    if broker == "redis":
        database = f"bartender_bench_{name}"
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        import redis

        redis.from_url(REDIS).flushdb()
        env.update(DATABASE_URL=f"{PG}/{database}", REDIS_URL=REDIS)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data


@contextmanager
def cluster(workers: int = 2, **env: str):
    """A real `manage.py qcluster` with this scenario's environment; stopped on exit."""
    from portal.health import live_workers

    log = open(Path(os.environ["DATA_DIR"]) / "cluster.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "Q_WORKERS": str(workers), **env}, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while live_workers() < 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the worker cluster did not start; see cluster.log")
            time.sleep(0.2)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


class GitServerProcess:
    """tests/gitserver.py in a process of its own, so the bench's own work never slows the remote."""

    username, password = "git", "s3cret-api-key"

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "gitserver.py"), str(root)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> GitServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def api_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from portal.models import ApiToken

    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    _, raw = ApiToken.issue(user=user, name="bench")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), user


def session_cookie(user) -> str:
    """A session id logged in the way the login page does it (the configured backend), so a real
    server sees the user; a session naming another backend is silently anonymous."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, cookie: str) -> tuple[int, str, bytes]:
    """One GET without following redirects: status, content type, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}", "Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def status(port: int, path: str, cookie: str) -> int:
    """The answer's status code, 0 while nothing listens."""
    try:
        return get(port, path, cookie)[0]
    except OSError:
        return 0


@contextmanager
def gunicorn(wsgi: str, *, ready: str, cookie: str, workers: int = 2, **env: str):
    """`gunicorn WSGI` on a free port with this scenario's environment, once `ready` answers 200
    to the session `cookie` (a login redirect is not ready); yields the port."""
    port = free_port()
    log = open(Path(os.environ["DATA_DIR"]) / "gunicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", wsgi],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (answer := status(port, ready, cookie)) != 200:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"gunicorn did not answer {ready} with 200 (last: {answer}); see gunicorn.log")
            time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def request_deploy(client, app: str, target: str, ref: str) -> int:
    response = client.post(
        f"/api/apps/{app}/targets/{target}/deployments", data={"ref": ref}, content_type="application/json"
    )
    if response.status_code != 202:
        raise RuntimeError(f"deploy refused: {response.status_code} {response.content[:200]!r}")
    return response.json()["id"]


def wait_finished(ids: list[int], timeout: float = 1800) -> list:
    from deployments.models import Deployment

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Deployment.objects.filter(pk__in=ids).order_by("id"))
        if all(row.status in ("succeeded", "failed", "cancelled") for row in rows):
            return rows
        time.sleep(0.05)  # the timings come from the rows' own timestamps, not from this poll
    raise RuntimeError("deployments did not finish in time")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` 0.95 for p95)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def rss_mb(group: int) -> float:
    """Resident memory of every process in a process group (the cluster and its workers)."""
    total_kb = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != group:  # field 5 of /proc/PID/stat: the process group
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total_kb / 1024
