"""The Heroku Platform API (releases only): the one module that talks to it.

https://devcenter.heroku.com/articles/platform-api-reference#release
Requests carry `Accept: application/vnd.heroku+json; version=3` and the target's API key as a
bearer token. Lists are paged with the Range header: a 206 answer's Next-Range is sent back
as the next request's Range (header names are compared without case, as HTTP says: a proxy or
Heroku itself may send `next-range`). Redirects are refused, never followed (portal.outbound): a followed
redirect would carry the key to wherever the Location points.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings

from portal import outbound

ACCEPT = "application/vnd.heroku+json; version=3"
TIMEOUT = 10
_MAX_PAGES = 20


class HerokuError(Exception):
    """A Platform API call failed; the message is a sentence for the user (never the key)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Release:
    id: str
    version: int
    description: str
    status: str
    current: bool
    # Heroku's own word on whether a rollback to this release may be made; None when not said.
    eligible_for_rollback: bool | None = None

    @classmethod
    def from_json(cls, data: dict) -> Release:
        try:
            return cls(
                id=str(data["id"]),
                version=int(data["version"]),
                description=str(data.get("description") or ""),
                status=str(data.get("status") or ""),
                current=bool(data.get("current")),
                eligible_for_rollback=_flag(data.get("eligible_for_rollback")),
            )
        except (KeyError, TypeError, ValueError):
            raise HerokuError("Heroku answered with a release this client cannot read.") from None


class Heroku:
    def __init__(self, api_key: str, *, base_url: str = "", timeout: float = TIMEOUT) -> None:
        if not api_key:
            raise HerokuError("The target has no Heroku API key.")
        self.api_key = api_key
        self.base_url = (base_url or settings.HEROKU_API_URL).rstrip("/")
        self.timeout = timeout

    def releases(self, app: str, *, newest_first: bool = True, limit: int = 100, page_size: int = 200) -> list[Release]:
        """Up to `limit` releases of `app`, following Range paging."""
        order = "desc" if newest_first else "asc"
        page_size = max(1, min(limit, page_size, 1000))
        wanted = f"version ..; order={order}, max={page_size}"
        found: list[Release] = []
        for _ in range(_MAX_PAGES):
            status, headers, body = self._call("GET", f"/apps/{quote(app, safe='')}/releases", range_=wanted)
            if not isinstance(body, list):
                raise HerokuError("Heroku answered the release list with something that is not a list.")
            found += [Release.from_json(item) for item in body]
            wanted = headers.get("next-range", "")
            if status != 206 or not wanted or len(found) >= limit:
                break
        return found[:limit]

    def latest_release(self, app: str) -> Release | None:
        found = self.releases(app, limit=1)
        return found[0] if found else None

    def release(self, app: str, id_or_version: str | int) -> Release:
        _, _, body = self._call("GET", f"/apps/{quote(app, safe='')}/releases/{quote(str(id_or_version), safe='')}")
        return Release.from_json(body)

    def rollback(self, app: str, release_id: str) -> Release:
        """Create a new release running the slug and config of `release_id` (no build)."""
        _, _, body = self._call("POST", f"/apps/{quote(app, safe='')}/releases", body={"release": release_id})
        return Release.from_json(body)

    def _call(
        self, method: str, path: str, *, body: dict | None = None, range_: str = ""
    ) -> tuple[int, Mapping[str, str], object]:
        """Status, headers (names lower-cased) and the decoded JSON of a 2xx answer."""
        headers = {"Accept": ACCEPT, "Authorization": f"Bearer {self.api_key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if range_:
            headers["Range"] = range_
        try:
            answer = outbound.request(
                method, self.base_url + path, about="the Heroku API", headers=headers, content=data,
                timeout=self.timeout,
            )  # fmt: skip
        except outbound.CannotSend:  # a bad URL, or a key unfit for a header
            raise HerokuError(
                "The Heroku API request could not be made; check HEROKU_API_URL and the target's API key."
            ) from None
        except outbound.OutboundError as problem:  # unreachable, not HTTP, or a redirect (with its status)
            raise HerokuError(str(problem), problem.status) from None
        if not answer.ok:
            raise _error(answer.status, answer.body)
        # Lower-cased names, whatever mapping the answer holds: lookups here use lower case.
        lowered = {str(name).lower(): str(value) for name, value in answer.headers.items()}
        try:
            return answer.status, lowered, json.loads(answer.body or b"null")
        except ValueError:
            raise HerokuError("The Heroku API answered with something that is not JSON.") from None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _error(status: int, raw: bytes) -> HerokuError:
    try:
        message = str(json.loads(raw).get("message") or "").strip()
    except (ValueError, AttributeError):
        message = ""
    said = f" Heroku said: {message}" if message else ""
    if status == 401:
        text = "Heroku refused the target's API key (401 Unauthorized); check the key."
    elif status == 403:
        text = "The target's API key may not do this on that Heroku app (403 Forbidden)."
    elif status == 404:
        text = "Heroku has no such app or release, or the key cannot see it (404)."
    elif status == 429:
        text = "Heroku's API rate limit is used up (429 Too Many Requests); try again in a minute."
    else:
        text = f"The Heroku API answered HTTP {status}."
    if not text.endswith(" ") and said:
        text += said if said.endswith((".", "!", "?")) else said + "."
    return HerokuError(text, status)
