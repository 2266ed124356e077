"""Plain helpers the tests import (the fixtures live in conftest.py): an API client with a real
token, the worker's side of the queue, bounded polling, the environment of a worker process,
reading a page or a log, deployments made without a worker, and posting an admin form back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from django import forms
from django.test import Client

from deployments import services
from deployments.models import Deployment, LogLine
from portal.actor import Actor
from projects.models import App, Target

DEPLOYS = "/api/apps/shop/targets/staging/deployments"


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


def run_worker() -> list[int]:
    """Do what a worker does with every queued task in the ORM broker, until none is left."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    ran: list[int] = []
    for _ in range(200):
        # Asked first because dequeue() sleeps a poll interval (0.1 s) whenever it finds nothing.
        tasks = broker.dequeue() if broker.queue_size() else None
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


def wait_for(predicate, *, timeout: float = 60, every: float = 0.05, what: str = "the condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def cluster_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker process that shares this test's database."""
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


BASE = Path(__file__).resolve().parent.parent
LOOSE_UMASK = 0o022
# What a process of its own must not inherit from the test run: it makes its own keys and database.
NOT_INHERITED = ("SECRET_KEY", "ENCRYPTION_KEY", "ENCRYPTION_OLD_KEYS", "DATABASE_URL", "REDIS_URL")


def run_alone(data: Path, *args: str) -> subprocess.CompletedProcess:
    """`python ARGS` in a process of its own on DATA_DIR `data`, with a loose umask as a login
    shell or a service manager would give it; it must succeed."""
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env["DATA_DIR"] = str(data)
    done = subprocess.run(
        [sys.executable, *args], cwd=BASE, env=env, umask=LOOSE_UMASK, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def page(client: Client, url: str) -> str:
    """The HTML of a page that must answer 200."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def commit_rows(body: str) -> list[str]:
    """The app page's commit rows, newest first."""
    return body.split('<li class="commit')[1:]


def log_lines(deployment: Deployment | int) -> list[str]:
    """A deployment's log as stored, line by line."""
    pk = deployment if isinstance(deployment, int) else deployment.pk
    return list(LogLine.objects.filter(deployment_id=pk).order_by("n").values_list("text", flat=True))


def log_text(deployment: Deployment | int) -> str:
    return "\n".join(log_lines(deployment))


def request_deployment(users: dict, ref: str = "main") -> Deployment:
    """A deployment of staging, requested by the deployer through the service and left queued."""
    target = Target.objects.get(slug="staging")
    return services.deployment_request(actor=Actor(user=users["deployer"], source="web"), target=target, ref=ref)


def deployment_row(
    app: App, users: dict, *, sha: str, status: str = "queued", previous: str = "", **fields
) -> Deployment:
    """A deployment of staging written straight to the database, in whatever state a test needs."""
    return Deployment.objects.create(
        app=app,
        target=Target.objects.get(slug="staging"),
        sha=sha,
        ref=fields.pop("ref", "main"),
        status=status,
        previous_sha=previous,
        requested_by=users["deployer"],
        requested_by_name="deployer",
        **fields,
    )


def post_data(response, **changes) -> dict:
    """The admin form of `response` as a browser would post it back, with `changes` applied."""
    data: dict = {}

    def add(form) -> None:
        for field in form:
            value = field.value()
            if isinstance(field.field, forms.BooleanField):
                if value:
                    data[field.html_name] = "on"
            elif isinstance(field.field, forms.SplitDateTimeField):
                data[f"{field.html_name}_0"], data[f"{field.html_name}_1"] = (
                    (f"{value:%Y-%m-%d}", f"{value:%H:%M:%S}") if value else ("", "")
                )
            elif value is not None:
                data[field.html_name] = [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
            if field.field.show_hidden_initial and value is not None:
                data[field.html_initial_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}
