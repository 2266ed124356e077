"""Fixtures only; the helpers tests import live in tests/helpers.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from whitenoise.middleware import WhiteNoiseMiddleware

from deployments.models import Deployment
from portal.models import ApiToken
from projects import git as project_git
from projects.models import Access, App, Role, Target
from tests.gitserver import GitHttpServer
from tests.gitutil import BUILD_HOOK, Repo, bare_remote, copy_tree, git
from tests.helpers import Api, cluster_env, run_alone, run_worker

ROLES = ("outsider", "viewer", "deployer", "app_admin", "staff")
SLOW_TIERS = ("cluster", "browser", "scaleout")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test of a slow tier is also `slow`: `-m "not slow"` is the fast tier."""
    for item in items:
        if any(item.get_closest_marker(tier) for tier in SLOW_TIERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Django's real hasher takes over half a second per password on a small machine; tests
    make and check dozens, and none is about the hashing itself."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def static_files_indexed_once() -> Iterator[None]:
    """WhiteNoise indexes every static file (Django admin's some 400) each time a middleware chain
    is built, that is for every test Client: some 40 ms, hundreds of times a run. The files do not
    change during a run, so the index is made once and handed to every later chain."""
    index_files = WhiteNoiseMiddleware.add_files_from_finders
    found: dict = {}

    def indexed_once(middleware: WhiteNoiseMiddleware) -> None:
        if not found:
            before = dict(middleware.files)
            index_files(middleware)
            found.update({url: f for url, f in middleware.files.items() if before.get(url) is not f})
        middleware.files.update(found)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoiseMiddleware, "add_files_from_finders", indexed_once)
        yield


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    """Each test gets its own DATA_DIR: mirrors, askpass and work files."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture(scope="session")
def repo_template(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The standard five-commit repository, made once; each test works on a copy of its own.
    Its objects are packed, so a copy is some 25 files and folders to write and delete, not 50."""
    template = Repo(tmp_path_factory.mktemp("template") / "repo", commits=5)
    git("repack", "-a", "-d", "-q", cwd=template.path)
    return template


@pytest.fixture(scope="session")
def remote_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bare_remote(tmp_path_factory.mktemp("template") / "remote.git", BUILD_HOOK)


@pytest.fixture(scope="session")
def migrated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh DATA_DIR as `manage.py migrate` leaves it, run in a process of its own with a loose
    umask and no keys or database from the test run. A real migrate takes seconds, so it runs once:
    tests only read this folder, or change a copy of their own (`copy_data_dir`)."""
    data = tmp_path_factory.mktemp("migrated") / "fresh"
    run_alone(data, "manage.py", "migrate", "--noinput")
    return data


@pytest.fixture
def copy_data_dir(migrated_data_dir: Path, tmp_path: Path) -> Callable[[str], Path]:
    """`copy_data_dir(name)`: this test's own copy of the migrated DATA_DIR, modes and all."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(migrated_data_dir, tmp_path / name, symlinks=True))

    return copy


@pytest.fixture
def repo(tmp_path: Path, repo_template: Repo) -> Repo:
    """A working repository of five commits on main (`repo.shas`), this test's own."""
    return repo_template.copy(tmp_path / "repo")


@pytest.fixture
def remote(tmp_path: Path, remote_template: Path) -> Path:
    """An empty bare remote whose pre-receive hook builds, and refuses a commit with a BREAK file."""
    return copy_tree(remote_template, tmp_path / "remote.git")


@pytest.fixture
def git_calls(monkeypatch) -> list[list[str]]:
    """Every git process started from here on (each goes through projects.project_git._launch)."""
    started: list[list[str]] = []
    launch = project_git._launch

    def counted(args, env, **options):
        started.append(list(args))
        return launch(args, env, **options)

    monkeypatch.setattr(project_git, "_launch", counted)
    return started


@pytest.fixture
def http_git(tmp_path: Path) -> Iterator[GitHttpServer]:
    root = tmp_path / "served"
    root.mkdir()
    with GitHttpServer(root) as server:
        yield server


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


@pytest.fixture
def staff(browser_client) -> Client:
    """A browser signed in as the staff user."""
    return browser_client("staff")


@pytest.fixture
def worker(django_capture_on_commit_callbacks):
    """Run the request's on_commit enqueues, then the worker's side of every queued task."""

    def work(request_fn):
        with django_capture_on_commit_callbacks(execute=True):
            response = request_fn()
        run_worker()
        return response

    return work


@pytest.fixture
def deploy(api, worker) -> Callable[..., Deployment]:
    """Request a deployment of `ref` through the API, run the worker's side, answer the row."""

    def request(ref: str = "main", *, target: str = "staging", role: str = "deployer", **headers) -> Deployment:
        path = f"/api/apps/shop/targets/{target}/deployments"
        response = worker(lambda: api(role).post(path, {"ref": ref}, **headers))
        assert response.status_code == 202, response.content
        return Deployment.objects.get(pk=response.json()["id"])

    return request


@pytest.fixture
def start_cluster(tmp_path: Path):
    """Start real `python manage.py qcluster` processes; all are stopped after the test."""
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
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def heroku(settings, http_git):
    """The loopback Platform API, with Heroku's git pushes going to the smart-HTTP server."""
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


@pytest.fixture
def clock(tmp_path: Path, settings, monkeypatch):
    """Set the time deploy policy reads, here and in the qcluster processes this test starts.

    `clock.set(datetime)` moves it (time runs on from there); `clock.now()` reads it.
    """
    from datetime import datetime

    from portal import clock as portal_clock

    path = tmp_path / "clock"
    settings.CLOCK_FILE = str(path)
    monkeypatch.setenv("CLOCK_FILE", str(path))

    class Clock:
        def set(self, instant: datetime) -> None:
            assert instant.tzinfo is not None, "give the instant its time zone"
            path.write_text(instant.isoformat())

        def now(self) -> datetime:
            return portal_clock.now()

    return Clock()


@pytest.fixture
def approval_target(app, users) -> Target:
    """Staging needs a second person within 30 minutes; `reviewer`, another deployer, may give it."""
    Target.objects.filter(slug="staging").update(require_approval=True, approval_minutes=30)
    users["reviewer"] = type(users["deployer"]).objects.create_user("reviewer", password="pw-reviewer-Long1")
    Access.objects.create(app=app, user=users["reviewer"], role=Role.DEPLOYER)
    return Target.objects.get(slug="staging")
