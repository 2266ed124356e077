"""A real smart-HTTP git server on loopback: `git http-backend` behind a small WSGI app.

Basic auth is required for every request; pushes are enabled. Used by the tests and the
benchmarks as the stand-in for an https remote such as Heroku's.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - wsgiref's signature
        pass


def _read_body(environ: dict) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                stream.readline()
                return bytes(body)
            body += stream.read(size)
            stream.readline()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return stream.read(length) if length else b""


class GitHttpApp:
    def __init__(self, root: Path, username: str, password: str) -> None:
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.requests = 0

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        self.requests += 1
        if environ.get("HTTP_AUTHORIZATION") != self.expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Length", "0")])
            return [b""]
        body = _read_body(environ)
        cgi_env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "git",
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
        }
        if environ.get("HTTP_GIT_PROTOCOL"):
            cgi_env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        done = subprocess.run(["git", "http-backend"], input=body, env=cgi_env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        headers.append(("Content-Length", str(len(payload))))
        start_response(status, headers)
        return [payload]


class GitHttpServer:
    """Serves every repository under `root` at http://127.0.0.1:PORT/NAME."""

    def __init__(self, root: Path, username: str = "git", password: str = "s3cret-api-key") -> None:
        self.root = root
        self.username = username
        self.password = password
        self.app = GitHttpApp(root, username, password)
        self.server = make_server("127.0.0.1", 0, self.app, server_class=_Server, handler_class=_QuietHandler)
        # Poll for shutdown every 50 ms, not serve_forever's 0.5 s: each test stops a server.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def __enter__(self) -> GitHttpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # `python tests/gitserver.py ROOT`: serve in a process of its own
    import sys

    with GitHttpServer(Path(sys.argv[1])) as served:
        print(served.server.server_port, flush=True)
        served.thread.join()
