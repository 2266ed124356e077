from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from deployments.models import Deployment
from portal.models import ApiToken
from projects.models import Access, App, Role, Target
from tests.gitserver import GitHttpServer
from tests.gitutil import BUILD_HOOK, Repo, bare_remote

ROLES = ("outsider", "viewer", "deployer", "app_admin", "staff")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Django's real hasher takes over half a second per password on a small machine; tests
    make and check dozens, and none is about the hashing itself."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    """Each test gets its own DATA_DIR: mirrors, askpass and work files."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo", commits=5)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path / "remote.git", BUILD_HOOK)


@pytest.fixture
def http_git(tmp_path: Path) -> Iterator[GitHttpServer]:
    root = tmp_path / "served"
    root.mkdir()
    with GitHttpServer(root) as server:
        yield server


class Api:
    """A JSON client that authenticates with a real API token."""

    def __init__(self, token: str = "") -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body=None, **headers):
        kwargs = {**self.headers, **headers}
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            kwargs.update(data=data, content_type="application/json")
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path: str, **headers):
        return self.call("get", path, **headers)

    def post(self, path: str, body=None, **headers):
        return self.call("post", path, body if body is not None else {}, **headers)

    def put(self, path: str, body=None, **headers):
        return self.call("put", path, body if body is not None else {}, **headers)

    def delete(self, path: str, **headers):
        return self.call("delete", path, **headers)


@pytest.fixture
def users(db) -> dict:
    User = get_user_model()
    made = {name: User.objects.create_user(name, password="pw-" + name + "-Long1") for name in ROLES}
    made["staff"].is_staff = True
    made["staff"].save(update_fields=["is_staff"])
    return made


@pytest.fixture
def app(db, users, repo: Repo, remote: Path) -> App:
    app = App.objects.create(slug="shop", name="Shop", repo_url=str(repo.path))
    Target.objects.create(app=app, slug="staging", name="Staging", remote_url=str(remote))
    for name, role in (("viewer", Role.VIEWER), ("deployer", Role.DEPLOYER), ("app_admin", Role.ADMIN)):
        Access.objects.create(app=app, user=users[name], role=role)
    return app


@pytest.fixture
def api(users):
    def make(role: str) -> Api:
        _, raw = ApiToken.issue(user=users[role], name="test")
        return Api(raw)

    return make


@pytest.fixture
def browser_client(users):
    def make(role: str) -> Client:
        client = Client()
        client.force_login(users[role])
        return client

    return make


def run_worker() -> list[int]:
    """Do what a worker does with every queued task in the ORM broker, until none is left."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    ran: list[int] = []
    for _ in range(200):
        tasks = broker.dequeue()
        if not tasks:
            return ran
        for ack_id, payload in tasks:
            task = SignedPackage.loads(payload)
            func = task["func"]
            if not callable(func):
                module, _, name = func.rpartition(".")
                func = getattr(__import__(module, fromlist=[name]), name)
            result = func(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            if task["func"] == "deployments.tasks.run_deployment" and result:
                ran.append(result)
    raise AssertionError("the queue never drained")


@pytest.fixture
def worker(django_capture_on_commit_callbacks):
    """Run the request's on_commit enqueues, then the worker's side of every queued task."""

    def work(request_fn):
        with django_capture_on_commit_callbacks(execute=True):
            response = request_fn()
        run_worker()
        return response

    return work


def deployment(pk: int) -> Deployment:
    return Deployment.objects.get(pk=pk)


__all__ = ["deployment"]


def wait_for(predicate, *, timeout: float = 60, every: float = 0.2, what: str = "the condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def cluster_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker process that shares this test's database."""
    import os

    from django.conf import settings
    from django.db import connection

    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        "ENCRYPTION_KEY": settings.ENCRYPTION_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:  # the test database pytest-django made, on the same server
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env.update(extra)
    return env


@pytest.fixture
def start_cluster(tmp_path: Path):
    """Start real `python manage.py qcluster` processes; all are stopped after the test."""
    import signal
    import subprocess
    import sys

    started: list[subprocess.Popen] = []
    base = Path(__file__).resolve().parent.parent

    def start(name: str = "worker", **env: str) -> subprocess.Popen:
        data = tmp_path / f"cluster-{name}"
        data.mkdir(exist_ok=True)
        log = open(tmp_path / f"cluster-{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=base, env=cluster_env(data, **env),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        proc.log_path = tmp_path / f"cluster-{name}.log"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            import os

            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def heroku(settings, http_git):
    """The loopback Platform API, with Heroku's git pushes going to the smart-HTTP server."""
    from tests.gitutil import bare_remote
    from tests.heroku_api import HEROKU_KEY, FakeHeroku

    assert http_git.password == HEROKU_KEY
    settings.HEROKU_GIT_URL = http_git.base_url + "/{app}.git"
    bare_remote(http_git.root / "shop-prod.git")
    with FakeHeroku(HEROKU_KEY, git_root=http_git.root) as fake:
        settings.HEROKU_API_URL = fake.url
        yield fake


@pytest.fixture
def prod(app, api, heroku) -> Target:
    """A Heroku target `prod` of the app, created through the API."""
    from tests.heroku_api import HEROKU_KEY

    response = api("app_admin").post(
        "/api/apps/shop/targets",
        {"slug": "prod", "name": "Production", "heroku_app": "shop-prod", "api_key": HEROKU_KEY},
    )
    assert response.status_code == 201, response.content
    return Target.objects.get(slug="prod")
