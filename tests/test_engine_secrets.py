"""A target's API key never lands in the database file, DATA_DIR, the logs or any answer."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from deployments.models import Deployment, LogLine
from portal.audit.models import AuditEvent
from tests.gitserver import GitHttpServer
from tests.gitutil import BUILD_HOOK, bare_remote, remote_head
from tests.helpers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)  # committed rows, so the database file holds them


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    root = tmp_path / "served"
    root.mkdir()
    with GitHttpServer(root, password=f"hrku-{secrets.token_hex(16)}") as server:
        yield server


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (path for path in root.rglob("*") if path.is_file())


def test_an_api_key_is_never_stored_logged_or_answered(app, api, repo, keyed_server, caplog, capfd, settings):
    settings.ALLOWED_REMOTES = [keyed_server.url("*")]
    caplog.set_level(logging.DEBUG)
    right, wrong = keyed_server.password, f"hrku-{secrets.token_hex(16)}"
    served = {name: bare_remote(keyed_server.root / f"{name}.git", BUILD_HOOK) for name in ("live", "prod")}
    admin, deployer = api("app_admin"), api("deployer")
    for slug, key in (("live", right), ("prod", wrong)):
        body = {"slug": slug, "name": slug.title(), "remote_url": keyed_server.url(f"{slug}.git"), "api_key": key}
        created = admin.post("/api/apps/shop/targets", body)
        assert created.status_code == 201, created.content
        assert key not in created.content.decode()

    ids = [
        deployer.post(f"/api/apps/shop/targets/{slug}/deployments", {"ref": "main"}).json()["id"]
        for slug in ("live", "prod")
    ]
    run_worker()

    live, prod = (Deployment.objects.get(pk=pk) for pk in ids)
    assert live.status == "succeeded", live.reason
    assert remote_head(served["live"]) == repo.shas[-1]
    assert prod.status == "failed"
    assert "Authentication failed" in prod.reason
    assert remote_head(served["prod"]) == ""

    answers = [
        admin.get("/api/apps").content,
        api("staff").get("/api/audit").content,
        *(deployer.get(f"/api/deployments/{pk}").content for pk in ids),
        *(deployer.get(f"/api/deployments/{pk}/log").content for pk in ids),
        *(deployer.get(f"/api/apps/shop/targets/{slug}/deployments").content for slug in ("live", "prod")),
    ]
    stored = [
        *LogLine.objects.values_list("text", flat=True),
        *AuditEvent.objects.values_list("detail", flat=True),
        *Deployment.objects.values_list("reason", flat=True),
    ]
    out, err = capfd.readouterr()
    for key in (right, wrong):
        assert not [answer for answer in answers if key.encode() in answer]
        assert not [text for text in stored if key in text]
        assert key not in caplog.text + out + err

    connection.close()  # let SQLite fold its WAL into the file; both are read anyway
    database = Path(settings.DATABASES["default"]["TEST"]["NAME"])
    # The database (with its WAL) and the generated keys sit in the installation's DATA_DIR;
    # mirrors, askpass and work files in this test's own.
    files = [path for path in database.parent.iterdir() if path.is_file()]
    files += list(_files(settings.DATA_DIR))
    assert database in files
    everything = b"".join(path.read_bytes() for path in files)
    assert keyed_server.url("live.git").encode() in everything  # the search does see committed rows
    assert right.encode() not in everything
    assert wrong.encode() not in everything
