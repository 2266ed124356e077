"""A loopback stand-in for the Heroku Platform API's releases, so the real client code runs.

Implements what Bartender calls, as documented: GET /apps/{app}/releases with Range paging
(`version ..; order=desc, max=N`, 206 and Next-Range while more remain), GET one release,
POST /apps/{app}/releases {"release": id} (a rollback; 422 for a release not
`eligible_for_rollback`), and the 401/403/429 answers. `next_range_header` is the spelling
of the Next-Range header's name (HTTP names have no case; a test may send `next-range`). A git push
to `git_root/{app}.git` shows up as a new "Deploy <sha>" release, as on Heroku. With
`redirect_to` set, every request is answered `redirect_code` pointing at the same path there.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ACCEPT = "application/vnd.heroku+json; version=3"
# The smart-HTTP git server's password doubles as the API key (tests/gitserver.py).
HEROKU_KEY = "s3cret-api-key"
_RANGE = re.compile(r"^version (?P<start>\]?\d*)\.\.(?P<end>\d*)\s*(?:;\s*(?P<opts>.*))?$")


class FakeHeroku:
    def __init__(self, api_key: str, *, git_root: Path | None = None) -> None:
        self.api_key = api_key
        self.git_root = git_root
        self.releases: dict[str, list[dict]] = {}
        self.forbidden: set[str] = set()
        self.rate_limited = False
        self.redirect_to = ""
        self.redirect_code = 302
        self.next_range_header = "Next-Range"
        self.requests: list[tuple[str, str, dict]] = []
        self._lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeHeroku:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_release(self, app: str, description: str, commit: str = "", *, eligible: bool = True) -> dict:
        with self._lock:
            found = self.releases.setdefault(app, [])
            for release in found:
                release["current"] = False
            release = {
                "id": str(uuid.uuid4()),
                "version": len(found) + 1,
                "description": description,
                "status": "succeeded",
                "current": True,
                "eligible_for_rollback": eligible,
                "commit": commit,  # not in Heroku's answer; kept here to check rollbacks
            }
            found.append(release)
            return release

    def _sync_from_git(self, app: str) -> None:
        """A push Heroku accepted makes a release: mirror the served repository's head."""
        if self.git_root is None or not (self.git_root / f"{app}.git").exists():
            return
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "refs/heads/main"],
            cwd=self.git_root / f"{app}.git", capture_output=True, text=True, check=False,
        )  # fmt: skip
        head = done.stdout.strip()
        pushed = [r["commit"] for r in self.releases.get(app, []) if r["description"].startswith("Deploy ")]
        if head and (not pushed or pushed[-1] != head):
            self.add_release(app, f"Deploy {head[:7]}", head)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

            def _send(self, status: int, body, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _refuse(self) -> bool:
                fake.requests.append((self.command, self.path, dict(self.headers.items())))
                if fake.redirect_to:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self.send_response(fake.redirect_code)
                    self.send_header("Location", fake.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.headers.get("Accept") != ACCEPT:
                    self._send(400, {"id": "bad_request", "message": "Please send the version 3 Accept header."})
                elif self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._send(401, {"id": "unauthorized", "message": "Invalid credentials provided."})
                elif fake.rate_limited:
                    self._send(429, {"id": "rate_limit", "message": "Your account reached the API rate limit."})
                elif self._app() in fake.forbidden:
                    self._send(403, {"id": "forbidden", "message": "You do not have access to the app."})
                else:
                    return False
                return True

            def _app(self) -> str:
                parts = self.path.split("?")[0].strip("/").split("/")
                return parts[1] if len(parts) >= 2 and parts[0] == "apps" else ""

            def do_GET(self) -> None:
                if self._refuse():
                    return
                parts = self.path.split("?")[0].strip("/").split("/")
                app = self._app()
                with fake._lock:
                    fake._sync_from_git(app)
                releases = [_public(r) for r in fake.releases.get(app, [])]
                if len(parts) == 4 and parts[2] == "releases":
                    wanted = parts[3]
                    found = next((r for r in releases if wanted in (r["id"], str(r["version"]))), None)
                    return self._send(200, found) if found else self._send(404, {"id": "not_found", "message": "x"})
                if len(parts) != 3 or parts[2] != "releases":
                    return self._send(404, {"id": "not_found", "message": "Not found."})
                return self._page(releases)

            def _page(self, releases: list[dict]) -> None:
                wanted = self.headers.get("Range", "version ..")
                parsed = _RANGE.match(wanted.strip())
                if not parsed:
                    return self._send(400, {"id": "bad_request", "message": "Bad Range."})
                opts = dict(part.strip().split("=", 1) for part in (parsed["opts"] or "").split(",") if "=" in part)
                order, size = opts.get("order", "asc"), int(opts.get("max", "200"))
                ordered = sorted(releases, key=lambda r: r["version"], reverse=order == "desc")
                start = parsed["start"]
                if start.startswith("]"):  # exclusive: continue after this version
                    after = int(start[1:])
                    ordered = [
                        r for r in ordered if (r["version"] < after if order == "desc" else r["version"] > after)
                    ]
                page = ordered[:size]
                if len(ordered) > size:
                    nxt = f"version ]{page[-1]['version']}..; order={order}, max={size}"
                    return self._send(206, page, {fake.next_range_header: nxt})
                return self._send(200, page)

            def do_POST(self) -> None:
                if self._refuse():
                    return
                app = self._app()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with fake._lock:
                    source = next((r for r in fake.releases.get(app, []) if r["id"] == body.get("release")), None)
                if source is None:
                    return self._send(404, {"id": "not_found", "message": "Couldn't find that release."})
                if not source["eligible_for_rollback"]:
                    return self._send(422, {"id": "invalid_params", "message": "Release is not eligible for rollback."})
                made = fake.add_release(app, f"Rollback to v{source['version']}", source["commit"])
                self._send(201, _public(made))

        return Handler


def _public(release: dict) -> dict:
    return {key: value for key, value in release.items() if key != "commit"}
