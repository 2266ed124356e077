"""git never follows an HTTP redirect: a remote that redirects fails with where it pointed."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

import pytest

from projects import mirror
from projects.git import GitError
from projects.models import App

METADATA_PATH = "/latest/meta-data/"


class _Recording(http.server.BaseHTTPRequestHandler):
    """Records each request; redirects it to `to` when set (else answers 404)."""

    seen: list[str]
    to: str = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(self.path)
        self.send_response(302 if self.to else 404)
        if self.to:
            self.send_header("Location", self.to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _serving(seen: list[str], to: str = "") -> Iterator[str]:
    handler = type("Handler", (_Recording,), {"seen": seen, "to": to})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str], list[str]]]:
    """A loopback 'git server' redirecting everything to a second loopback host, standing in
    for cloud metadata: the first records what git asked, the second whether anyone came."""
    seen, reached = [], []
    with _serving(reached) as metadata, _serving(seen, to=metadata + METADATA_PATH) as remote:
        yield f"{remote}/shop.git", seen, reached


def test_a_push_to_a_redirecting_remote_fails_naming_where_it_pointed(app, api, deploy, redirecting):
    url, seen, reached = redirecting
    api("staff").call("patch", "/api/apps/shop/targets/staging", {"remote_url": url})

    deployment = deploy("main")

    assert deployment.status == "failed"
    assert "redirect" in deployment.reason and METADATA_PATH in deployment.reason
    assert seen and all(path.startswith("/shop.git/") for path in seen)  # nothing but the remote's own URL
    assert reached == []


def test_a_repository_that_redirects_is_not_fetched(db, redirecting):
    url, _, reached = redirecting
    app = App.objects.create(slug="moved", name="Moved", repo_url=url)

    with pytest.raises(GitError, match="redirect") as refused:
        mirror.sync(app)

    assert METADATA_PATH in str(refused.value)
    assert not mirror.exists(app)
    assert reached == []
