"""Helpers for the continuous-deployment tests: drain every queued task (and what those tasks
enqueue after their commits), a signed GitHub webhook, a loopback notification receiver and a
loopback TCP server that answers like something other than HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.test import Client

from tests.helpers import run_worker

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
    """A loopback HTTP endpoint that records each POST and GET (a webhook, a health check) and
    answers from `codes` (then 200), or with what `answer()` says for each request when given;
    a 3xx answer points at `location`."""

    def __init__(
        self, codes: list[int] | None = None, location: str = "", *, answer: Callable[[], int] | None = None
    ) -> None:
        self.codes = list(codes or [])
        self.answer = answer
        self.location = location
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(
                    {"method": self.command, "headers": dict(self.headers.items()), "body": body,
                     "json": json.loads(body) if body else None}
                )  # fmt: skip
                if receiver.answer is not None:
                    code = receiver.answer()
                else:
                    code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                if 300 <= code < 400 and receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def hits(self) -> int:
        return len(self.received)

    def events(self) -> list[str]:
        return [r["json"].get("event") or r["json"]["text"] for r in self.received]


class Banner:
    """A loopback TCP server that reads each HTTP request, answers `banner` (not HTTP) and closes."""

    def __init__(self, banner: bytes = b"SSH-2.0-x\r\n") -> None:
        self.connections = 0
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.connections += 1
                self.request.settimeout(5)
                try:
                    _read_request(self.request)
                    self.request.sendall(banner)
                    # Close only after the client has: unread bytes would make this end reset
                    # the connection, and the client could see that instead of the banner.
                    self.request.shutdown(socket.SHUT_WR)
                    while self.request.recv(4096):
                        pass
                except OSError:
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Banner:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_request(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = connection.recv(4096)
        if not chunk:
            return
        body += chunk
