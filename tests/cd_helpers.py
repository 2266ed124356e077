"""Helpers for the continuous-deployment tests: drain every queued task (and what those tasks
enqueue after their commits), a signed GitHub webhook, a loopback notification receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.test import Client

from tests.conftest import run_worker

SECRET = "a-github-webhook-secret-0123"


def drain(capture) -> None:
    """Run queued tasks like a worker until none is left, including on_commit enqueues."""
    from django_q.models import OrmQ

    for _ in range(20):
        with capture(execute=True):
            run_worker()
        if not OrmQ.objects.exists():
            return
    raise AssertionError("the queue never drained")


def github(event: str, payload: dict, *, secret: str = SECRET, app: str = "shop", signature: str | None = None):
    body = json.dumps(payload).encode()
    if signature is None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": "d-1"}
    if signature:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return Client().post(f"/hooks/github/{app}", data=body, content_type="application/json", **headers)


class Receiver:
    """A loopback HTTP endpoint that records each POST and answers from `codes` (then 200)."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = list(codes or [])
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(
                    {"headers": dict(self.headers.items()), "body": body, "json": json.loads(body)}
                )
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        return [r["json"].get("event") or r["json"]["text"] for r in self.received]
