"""Outgoing HTTP (the Heroku API, notification webhooks, later health checks and GitHub).

The one place that builds an httpx client for calls leaving Bartender, and the one error family
they fail with. Redirects are never followed: a followed redirect would carry a webhook's
signature or an API key to whatever host it names, around the rule that plain http goes only to
loopback. A 3xx answer is an `OutboundError` that says where it pointed.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cache

import httpx

TIMEOUT = 10.0  # seconds for each of connect, write, read (between bytes) and pool
MAX_BODY = 8 * 1024 * 1024  # bytes of an answer kept; the rest is never read
USER_AGENT = "Bartender"
_MAX_LOCATION = 200


class OutboundError(Exception):
    """An outgoing request failed. The message is a sentence for the user: it names what was
    called and why, and never quotes the URL, a header or a body that was sent."""

    def __init__(self, message: str, *, status: int | None = None, location: str = "") -> None:
        super().__init__(message)
        self.status = status  # the HTTP status when the server answered, else None
        self.location = location  # where a redirect pointed, as the server said it


class Redirected(OutboundError):
    """The server answered 3xx; nothing was followed."""


class CannotSend(OutboundError):
    """The request could not even be made: a URL or header value that is not valid HTTP."""


@dataclass(frozen=True)
class Answer:
    """A non-redirect answer, whatever its status: callers decide what a 4xx or 5xx means."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@cache
def _trust() -> ssl.SSLContext:
    # The machine's trust store (httpx would use certifi's), as git uses for the same hosts,
    # so a CA added to the machine works for pushes and for calls alike.
    return ssl.create_default_context()


def client(*, timeout: float = TIMEOUT, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client for outgoing calls: no redirects, explicit timeouts, the system's CAs.

    Prefer `request`, which also reads the answer within limits and turns every failure into
    an `OutboundError`; use this directly only for what `request` cannot do, and keep both.
    """
    return httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        verify=_trust(),
        headers={"User-Agent": USER_AGENT},
        transport=transport,
    )


def request(
    method: str,
    url: str,
    *,
    about: str,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = TIMEOUT,
    max_body: int = MAX_BODY,
    transport: httpx.BaseTransport | None = None,
) -> Answer:
    """Send one request and read at most `max_body` bytes of the answer.

    `about` names what is called, for the error sentences ("the endpoint", "the Heroku API").
    Returns any answer but a 3xx; raises `Redirected` for a 3xx, `CannotSend` when the request
    cannot be made, and `OutboundError` when the server cannot be reached or does not speak HTTP.
    """
    unsendable = CannotSend(f"The request to {about} could not be made: its URL or a header is not valid HTTP.")
    if any(char in value for value in (headers or {}).values() for char in "\r\n\0"):
        raise unsendable  # checked before connecting, so the answer never depends on the server
    try:
        with (
            client(timeout=timeout, transport=transport) as http,
            http.stream(method, url, headers=headers, content=content) as response,
        ):
            if 300 <= response.status_code < 400:
                raise _redirected(about, response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= max_body:
                    break
            return Answer(response.status_code, response.headers, bytes(body[:max_body]))
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL, ValueError):
        # Their messages may quote a header value, an API key included: never pass them on.
        raise unsendable from None
    except httpx.HTTPError as problem:
        raise _explain(about, problem, timeout) from problem


def _redirected(about: str, response: httpx.Response) -> Redirected:
    location = response.headers.get("Location", "")[:_MAX_LOCATION]
    pointed = f" It pointed to {location}." if location else ""
    return Redirected(
        f"{_sentence(about)} answered a redirect (HTTP {response.status_code}); redirects are not followed.{pointed}",
        status=response.status_code,
        location=location,
    )


def _explain(about: str, problem: httpx.HTTPError, timeout: float) -> OutboundError:
    detail = str(problem).strip().rstrip(".") or type(problem).__name__
    if detail[1:2].islower():  # "Server disconnected" reads as "server disconnected" mid-sentence
        detail = detail[:1].lower() + detail[1:]
    if isinstance(problem, httpx.ConnectTimeout):
        return OutboundError(f"{_sentence(about)} could not be reached: timed out after {timeout:g} seconds.")
    if isinstance(problem, httpx.TimeoutException):
        return OutboundError(f"{_sentence(about)} did not answer within {timeout:g} seconds.")
    if isinstance(problem, (httpx.RemoteProtocolError, httpx.DecodingError)):
        return OutboundError(f"{_sentence(about)} did not answer like an HTTP server ({detail}).")
    if isinstance(problem, httpx.TransportError):  # refused, no such host, TLS, reset, proxy
        return OutboundError(f"{_sentence(about)} could not be reached: {detail}.")
    return OutboundError(f"The request to {about} failed: {detail}.")


def _sentence(about: str) -> str:
    return about[:1].upper() + about[1:]
