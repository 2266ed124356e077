"""Outgoing HTTP (the Heroku API, notification webhooks, later health checks and GitHub).

The one place that builds an httpx client for calls leaving Bartender, and the one error family
they fail with. Redirects are never followed: a followed redirect would carry a webhook's
signature or an API key to whatever host it names, around the rule that plain http goes only to
loopback. A 3xx answer is an `OutboundError` that says where it pointed.

URLs that users choose (webhooks, health checks) may reach public addresses only, or networks
the operator lists in `OUTBOUND_ALLOWED_NETWORKS`: otherwise a webhook would lend the worker's
view of the private network, the cloud metadata service and its own loopback ports to any app
admin, and the delivery log would tell them which ports answer. `refusal` says why a URL may not
be saved; `request(..., public_only=True)` refuses again when sending, and connects to exactly
the addresses it checked, so a name that resolves differently a second time (DNS rebinding)
gains nothing. Operator settings (the Heroku API) are called without `public_only`.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

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


class Refused(OutboundError):
    """The URL may not be called (see `refusal`); nothing was connected to."""


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


def client(
    *, timeout: float = TIMEOUT, transport: httpx.BaseTransport | None = None, public_only: bool = False,
    about: str = "the endpoint",
) -> httpx.Client:  # fmt: skip
    """An httpx client for outgoing calls: no redirects, explicit timeouts, the system's CAs.

    With `public_only` (and no `transport` of the caller's) every connection goes only to
    addresses that pass the outgoing-HTTP rule, checked as it connects; others raise `Refused`.
    Prefer `request`, which also reads the answer within limits and turns every failure into
    an `OutboundError`; use this directly only for what `request` cannot do, and keep both.
    """
    if public_only and transport is None:
        transport = _PublicOnlyTransport(about)
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
    public_only: bool = False,
) -> Answer:
    """Send one request and read at most `max_body` bytes of the answer.

    `about` names what is called, for the error sentences ("the endpoint", "the Heroku API").
    `public_only` (for every URL a user chose) applies the outgoing-HTTP rule before anything
    is connected to and again at the connection itself (see `client`).
    Returns any answer but a 3xx; raises `Redirected` for a 3xx, `CannotSend` when the request
    cannot be made, `Refused` when the rule forbids the URL, and `OutboundError` when the server
    cannot be reached or does not speak HTTP.
    """
    unsendable = CannotSend(f"The request to {about} could not be made: its URL or a header is not valid HTTP.")
    if any(char in value for value in (headers or {}).values() for char in "\r\n\0"):
        raise unsendable  # checked before connecting, so the answer never depends on the server
    if public_only and (problem := refusal(url)):
        raise Refused(f"{_sentence(about)} was not called: {problem}.")
    try:
        with (
            client(timeout=timeout, transport=transport, public_only=public_only, about=about) as http,
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


# The outgoing-HTTP rule ---------------------------------------------------------------------

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_RULE = "outgoing HTTP goes only to public addresses or to networks listed in OUTBOUND_ALLOWED_NETWORKS"


def refusal(url: str) -> str | None:
    """Why outgoing HTTP may not go to `url`, as a phrase ("its host ... "), or None when it may.

    Every address the host resolves to must be public (`ipaddress`'s `is_global`) or inside
    one of the `OUTBOUND_ALLOWED_NETWORKS`; only http and https are spoken.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        return "only http and https URLs are called"
    if not parts.hostname:
        return "it names no host"
    try:
        _checked_addresses(parts.hostname, port or (443 if scheme == "https" else 80))
    except _NotAllowed as problem:
        return str(problem)
    return None


def allowed_networks() -> list[IPNetwork]:
    """`OUTBOUND_ALLOWED_NETWORKS` (validated in settings) as networks; a list or a comma-separated
    string, so a test's `settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.0/8"` works as well."""
    configured: str | Iterable[str | IPNetwork] = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ())
    if isinstance(configured, str):
        configured = configured.split(",")
    return [ipaddress.ip_network(str(item).strip(), strict=False) for item in configured if str(item).strip()]


class _NotAllowed(Exception):
    """A phrase saying why a host may not be called."""


def _checked_addresses(host: str, port: int) -> list[str]:
    """Resolve `host` once and return its addresses (to connect to) when every one is allowed."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _NotAllowed(f"its host {host} could not be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise _NotAllowed(f"its host {host} could not be resolved")
    networks = allowed_networks()
    for text in addresses:
        address = _address(text)
        if not address.is_global and not any(address in network for network in networks):
            # The kind of address, never which one or whether anything listens there.
            raise _NotAllowed(f"its host {host} resolves to {_kind(address)} address; {_RULE}")
    return addresses


def _address(text: str) -> IPAddress:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope ("fe80::1%eth0") is no part of it
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1, and judged as such
    return address


def _kind(address: IPAddress) -> str:
    for kind, test in (
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("an unspecified", address.is_unspecified),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
    ):
        if test:
            return kind
    return "a non-public"


class _PublicOnlyBackend(httpcore.NetworkBackend):
    """Resolves each host as it connects, checks every address and connects to a checked one:
    what was checked is what is reached. TLS still names the host (httpcore passes the URL's
    host as SNI and checks the certificate against it), and so does the Host header."""

    def __init__(self, about: str) -> None:
        self._about = about
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        try:
            addresses = _checked_addresses(host, port)
        except _NotAllowed as problem:
            raise Refused(f"{_sentence(self._about)} was not called: {problem}.") from None
        # Each checked address in turn while they refuse at once; a timeout ends the attempt, so
        # a host with many silent addresses costs one timeout, not one per address.
        for address in addresses[:-1]:
            try:
                return self._backend.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError:
                continue
        return self._backend.connect_tcp(addresses[-1], port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        raise Refused(f"{_sentence(self._about)} was not called: {_RULE}.")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _PublicOnlyTransport(httpx.HTTPTransport):
    """httpx's own transport (its request and error handling), over a connection pool that
    connects through `_PublicOnlyBackend`. httpx takes no network backend of its own, so the
    pool it built is replaced; environment proxies are not used, as with any given transport."""

    def __init__(self, about: str) -> None:
        super().__init__(verify=_trust(), trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=_trust(), network_backend=_PublicOnlyBackend(about))
