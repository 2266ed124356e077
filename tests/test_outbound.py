"""Outgoing HTTP (portal.outbound): redirects are never followed, every failure is one error
family with a sentence, answers are read within limits, and nothing sent leaks into an error."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator

import httpx
import pytest

from portal import outbound
from tests.cd_helpers import Banner, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


def closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_says_where_it_pointed(receiver, code):
    with Receiver() as elsewhere:
        receiver.codes, receiver.location = [code], elsewhere.url
        with pytest.raises(outbound.Redirected) as redirected:
            outbound.request("POST", receiver.url, about="the endpoint", content=b"{}")

    assert elsewhere.received == []
    assert len(receiver.received) == 1
    assert (redirected.value.status, redirected.value.location) == (code, elsewhere.url)
    assert str(redirected.value) == (
        f"The endpoint answered a redirect (HTTP {code}); redirects are not followed. It pointed to {elsewhere.url}."
    )


def test_the_client_the_others_build_never_follows_a_redirect_either():
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/"})

    with outbound.client(transport=httpx.MockTransport(answer)) as http:
        response = http.get("https://api.example/releases")

    assert response.status_code == 302
    assert seen == ["https://api.example/releases"]


def test_an_unreachable_server_is_one_error_with_a_sentence():
    with pytest.raises(outbound.OutboundError) as failed:
        outbound.request("GET", f"http://127.0.0.1:{closed_port()}/", about="the Heroku API")

    assert str(failed.value).startswith("The Heroku API could not be reached: ")
    assert str(failed.value).endswith(".")
    assert failed.value.status is None
    assert not isinstance(failed.value, outbound.Redirected | outbound.CannotSend)


def test_a_server_that_does_not_speak_http_is_one_error_with_a_sentence():
    with Banner(b"SSH-2.0-x\r\n") as ssh, pytest.raises(outbound.OutboundError) as failed:
        outbound.request("GET", ssh.url + "/", about="the endpoint")

    assert str(failed.value).startswith("The endpoint did not answer like an HTTP server (")
    assert ssh.connections == 1


def test_a_server_that_never_answers_fails_after_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (in the kernel) but never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(outbound.OutboundError) as failed:
            outbound.request("GET", url, about="the endpoint", timeout=0.2)

    assert str(failed.value) == "The endpoint did not answer within 0.2 seconds."


def test_a_header_unfit_for_http_is_never_sent_and_the_error_does_not_quote_it(receiver):
    key = "s3cret-api-key"
    for bad in (f"Bearer {key}\r\nX-Injected: 1", f"Bearer {key}\u00e9", f"Bearer {key}\0"):
        with pytest.raises(outbound.CannotSend) as failed:
            outbound.request("POST", receiver.url, about="the Heroku API", headers={"Authorization": bad})

        told = "".join(traceback.format_exception(failed.value))
        assert str(failed.value) == (
            "The request to the Heroku API could not be made: its URL or a header is not valid HTTP."
        )
        assert key not in told
    assert receiver.received == []


def test_an_error_status_is_an_answer_for_the_caller_to_read():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"message": "Rate limit reached."})

    got = outbound.request("GET", "https://api.example/", about="the API", transport=httpx.MockTransport(answer))

    assert (got.status, got.ok) == (429, False)
    assert got.body == b'{"message":"Rate limit reached."}'


def test_only_the_first_max_body_bytes_of_an_answer_are_kept():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 100_000)

    got = outbound.request(
        "GET", "https://hooks.example/", about="the endpoint", max_body=1024, transport=httpx.MockTransport(answer)
    )

    assert got.ok
    assert got.body == b"x" * 1024


def test_the_body_is_sent_byte_for_byte(receiver):
    body = b'{"text":"caf\xc3\xa9",  "n":1}'

    got = outbound.request(
        "POST", receiver.url, about="the endpoint", content=body, headers={"Content-Type": "application/json"}
    )

    assert got.status == 200
    [received] = receiver.received
    assert received["body"] == body
    assert received["headers"]["User-Agent"] == "Bartender"
