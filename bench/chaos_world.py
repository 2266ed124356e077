"""The world of the chaos run: its database, repository, remotes and processes (bench/chaos.py).

Everything lives under var/chaos: a PostgreSQL database of its own (`bartender_chaos`), Redis
database 13, one DATA_DIR for gunicorn and one per worker cluster, bare remotes whose hooks log
what they received.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "chaos"
PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "bartender_chaos"
REDIS = "redis://127.0.0.1:6379/13"  # a spare number: the scale-out tests use 15, make bench 14
FERNET = "Y2hhb3Mtb25seS1rZXktZm9yLWJhcnRlbmRlci1ydW4="  # base64 of 32 bytes, chaos only

# A build on the remote: 0.5-3 s, with when it started and ended, the sha and its pid in a log.
PRE_RECEIVE = """#!/bin/sh
while read old new ref; do
  echo "start $(date +%s.%N) $new $$" >> {log}
  echo "-----> Building $new"
  sleep "$(awk -v seed="$(date +%N)" 'BEGIN {{ srand(seed); printf "%.2f", 0.5 + rand() * 2.5 }}')"
  echo "-----> Released"
  echo "end $(date +%s.%N) $new $$" >> {log}
done
"""
# What the remote really took: git calls this hook once a ref update is committed, even when
# the pushing client has died meanwhile (its post-receive may then never run).
REFERENCE_TRANSACTION = """#!/bin/sh
[ "$1" = committed ] || exit 0
while read old new ref; do
  echo "landed $(date +%s.%N) $old $new $ref" >> {log}
done
"""


def base_env(data: Path, **extra: str) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "Q_", "TASK_"))},
        "DATA_DIR": str(data),
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "REDIS_URL": REDIS,
        "SECRET_KEY": "chaos-only-secret-key",
        "ENCRYPTION_KEY": FERNET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DEBUG": "False",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    env.update(extra)
    return env


def fresh() -> None:
    """A new var/chaos, database and Redis database."""
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "logs").mkdir(parents=True)
    import psycopg
    import redis

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    redis.from_url(REDIS).flushdb()


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Chaos", "GIT_AUTHOR_EMAIL": "chaos@example.com",
           "GIT_COMMITTER_NAME": "Chaos", "GIT_COMMITTER_EMAIL": "chaos@example.com"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(commits: int) -> tuple[Path, list[str]]:
    path = WORK / "repo"
    path.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    shas = []
    for n in range(commits):
        (path / "version.txt").write_text(f"{n}\n")
        git("add", "version.txt", cwd=path)
        git("commit", "--quiet", "-m", f"Version {n}", cwd=path)
        shas.append(git("rev-parse", "HEAD", cwd=path))
    return path, shas


def make_remote(name: str) -> Path:
    path = WORK / "remotes" / f"{name}.git"
    path.mkdir(parents=True)
    git("init", "--quiet", "--bare", cwd=path)
    log = WORK / "remotes" / f"{name}.log"
    log.touch()
    for hook, text in (("pre-receive", PRE_RECEIVE), ("reference-transaction", REFERENCE_TRANSACTION)):
        file = path / "hooks" / hook
        file.write_text(text.format(log=log))
        file.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """One process of the run (gunicorn or a qcluster), restartable, in a process group of its own."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name, self.args, self.env = name, args, env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(WORK / "logs" / f"{self.name}.{self.starts}.log", "wb")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        """kill -9 the whole process group: the main process, its sentinel and every worker."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def cluster(name: str) -> Proc:
    data = WORK / name
    data.mkdir(exist_ok=True)
    return Proc(name, [sys.executable, "manage.py", "qcluster"], base_env(data, WORKER_NAME=name))


def web(port: int) -> Proc:
    data = WORK / "web"
    data.mkdir(exist_ok=True)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    args = [gunicorn, "portal.wsgi", "-b", f"127.0.0.1:{port}", "-w", "3", "--threads", "4", "--timeout", "60"]
    return Proc("web", args, base_env(data))


def pg_ok() -> bool:
    try:
        import psycopg

        with psycopg.connect(f"{PG}/postgres", connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def redis_ok() -> bool:
    try:
        import redis

        return bool(redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


def wait_until(check, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def start_redis() -> None:
    port = REDIS.split(":")[2].split("/")[0]
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly",
         "no"], capture_output=True, check=True,
    )  # fmt: skip
    if not wait_until(redis_ok, 30):
        raise RuntimeError("Redis did not come back after its restart")


def restart_redis() -> None:
    """Redis down (nothing saved: every task in it is lost) and up again."""
    port = REDIS.split(":")[2].split("/")[0]
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port, "shutdown", "nosave"], capture_output=True)
    wait_until(lambda: not redis_ok(), 10)
    time.sleep(2)
    start_redis()


# --private (developing the run): servers of its own on other ports, so restarting them disturbs
# nobody. The real run uses the machine's own.
PRIVATE_PG = Path("/tmp/chaos-private-pg")


def use_private_servers() -> None:
    global PG, REDIS
    PG, REDIS = "postgres://postgres@127.0.0.1:5499", "redis://127.0.0.1:6399/0"
    tools = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[0] / "bin"
    if not PRIVATE_PG.exists():
        PRIVATE_PG.mkdir()
        shutil.chown(PRIVATE_PG, "postgres")
        _as_postgres([str(tools / "initdb"), "-D", str(PRIVATE_PG / "data"), "-A", "trust", "-U", "postgres"])
    if not pg_ok():
        _as_postgres([str(tools / "pg_ctl"), "-D", str(PRIVATE_PG / "data"), "-o", "-p 5499 -k /tmp", "-l",
                      str(PRIVATE_PG / "log"), "-w", "start"])  # fmt: skip
    if not redis_ok():
        start_redis()


def _as_postgres(command: list[str]) -> None:
    subprocess.run(["su", "postgres", "-c", shlex.join(command)], check=True, capture_output=True)


def restart_postgres() -> None:
    """The machine's PostgreSQL cluster restarted (pg_ctlcluster, as root or as its owner)."""
    version = sorted(os.listdir("/etc/postgresql"))[0]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
    if PG.endswith(":5499"):
        tools = Path("/usr/lib/postgresql") / version / "bin"
        command = ["su", "postgres", "-c", shlex.join([str(tools / "pg_ctl"), "-D", str(PRIVATE_PG / "data"), "-o",
                   "-p 5499 -k /tmp", "-l", str(PRIVATE_PG / "log"), "-w", "restart"])]  # fmt: skip
    elif os.geteuid() != 0 and shutil.which("sudo"):
        command = ["sudo", "-n", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"PostgreSQL restart failed: {done.stderr.strip()}")
    if not wait_until(pg_ok, 60):
        raise RuntimeError("PostgreSQL did not come back after its restart")
