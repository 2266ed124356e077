"""The outgoing-HTTP rule: webhooks reach only public addresses, or networks the operator lists in
OUTBOUND_ALLOWED_NETWORKS, judged after DNS resolution when saved and again when sent, and the
connection goes to the very address that was checked.

Nothing here connects anywhere but loopback: names of our own come from a stand-in resolver, and
every connection attempt is recorded (and refused unless it is to loopback)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from deployments.models import Delivery, Webhook
from portal import outbound
from portal.env import env_networks
from tests.cd_helpers import Receiver

LOOPBACK = ["127.0.0.0/8"]
RULE = "outgoing HTTP goes only to public addresses or to networks listed in OUTBOUND_ALLOWED_NETWORKS"
PUBLIC = "93.184.215.14"  # a public address that no test connects to (the guard below refuses it)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


@pytest.fixture
def connections(monkeypatch) -> list[str]:
    """Every address a connection is attempted to; anything but loopback is refused unsent."""
    attempted: list[str] = []
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        attempted.append(address[0])
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise OSError("the tests connect to loopback only")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempted


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[list[str]]]:
    """Names of our own: `dns[name]` lists the answer of each lookup in turn (the last repeats);
    every other name is looked up as usual."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        queue = answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)) if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in addresses
        ]  # fmt: skip

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return answers


def save_webhook(api, url: str):
    return api("app_admin").post("/api/apps/shop/webhooks", {"name": "team", "url": url})


def port_of(receiver: Receiver) -> int:
    return receiver.server.server_port


# At save -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",  # a port that answers: refused all the same
        "http://localhost:{port}/hook",  # a name that resolves to loopback
        "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://100.64.0.1/hook",  # shared address space (carrier NAT)
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # loopback dressed as IPv6
        "https://2130706433/hook",  # 127.0.0.1 as one number
    ],
)
def test_a_webhook_to_a_non_public_address_is_400_at_save(app, api, receiver, connections, url):
    response = save_webhook(api, url.format(port=port_of(receiver)))

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("url: its host ")
    assert detail.endswith(f" address; {RULE}.")
    assert not Webhook.objects.exists()
    assert receiver.received == [] and connections == []


def test_the_400_names_the_kind_of_address_and_never_probes_it(app, api, connections):
    kinds = {
        "https://169.254.169.254/": "url: its host 169.254.169.254 resolves to a link-local address",
        "https://10.1.2.3/": "url: its host 10.1.2.3 resolves to a private address",
        "https://localhost/": "url: its host localhost resolves to a loopback address",
    }
    for url, start in kinds.items():
        assert save_webhook(api, url).json()["detail"] == f"{start}; {RULE}."
    assert connections == []


def test_a_host_with_one_private_address_among_public_ones_is_400(app, api, dns, connections):
    dns["mixed.example.com"] = [[PUBLIC, "10.0.0.7"]]

    response = save_webhook(api, "https://mixed.example.com/hook")

    assert response.status_code == 400
    assert response.json()["detail"] == f"url: its host mixed.example.com resolves to a private address; {RULE}."


def test_a_host_whose_every_address_is_public_is_saved(app, api, dns, connections):
    dns["hooks.example.com"] = [[PUBLIC, "2606:4700::6810:84e5"]]

    response = save_webhook(api, "https://hooks.example.com/hook")

    assert response.status_code == 201, response.content
    assert Webhook.objects.get().url == "https://hooks.example.com/hook"
    assert connections == []


def test_an_unresolvable_host_is_400_with_a_sentence(app, api, connections):
    response = save_webhook(api, "https://nowhere.invalid/hook")

    assert response.status_code == 400
    assert response.json()["detail"] == "url: its host nowhere.invalid could not be resolved."
    assert connections == []


def test_allowed_networks_allow_only_what_they_list(app, api, settings, receiver):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert save_webhook(api, receiver.url).status_code == 400
    assert save_webhook(api, "https://169.254.169.254/").status_code == 400

    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    assert save_webhook(api, receiver.url).status_code == 201
    assert save_webhook(api, f"http://localhost:{port_of(receiver)}/hook").status_code == 201
    assert save_webhook(api, "https://169.254.169.254/").status_code == 400
    assert Webhook.objects.count() == 2


# At send -------------------------------------------------------------------------------------


def test_with_loopback_allowed_a_loopback_receiver_gets_the_delivery(app, api, settings, deploy, receiver):
    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    assert save_webhook(api, receiver.url).status_code == 201

    deploy()

    assert len(receiver.received) == 2
    assert list(Delivery.objects.values_list("state", "status_code")) == [("delivered", 200)] * 2


def test_a_webhook_saved_while_allowed_is_refused_at_send_once_the_setting_is_gone(
    app, api, settings, deploy, receiver
):
    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    assert save_webhook(api, receiver.url).status_code == 201
    assert save_webhook(api, f"http://localhost:{port_of(receiver)}/hook").status_code == 201
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    deployment = deploy()

    assert deployment.status == "succeeded"
    assert receiver.received == []
    failed = Delivery.objects.filter(attempt=1)
    assert failed.count() == 4
    assert {(d.state, d.status_code) for d in failed} == {("failed", None)}
    assert {d.error for d in failed} == {
        f"The endpoint was not called: its host 127.0.0.1 resolves to a loopback address; {RULE}.",
        f"The endpoint was not called: its host localhost resolves to a loopback address; {RULE}.",
    }


def test_a_refused_send_says_nothing_about_whether_the_port_answers(app, api, settings, deploy, receiver):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    save_webhook(api, receiver.url)
    save_webhook(api, f"http://127.0.0.1:{closed_port}/hook")
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    deploy()

    errors = {d.webhook.url: d.error for d in Delivery.objects.filter(attempt=1, event="deployment.started")}
    assert len(errors) == 2
    assert errors[receiver.url] == errors[f"http://127.0.0.1:{closed_port}/hook"]
    assert str(closed_port) not in errors[receiver.url] and "reached" not in errors[receiver.url]
    assert receiver.received == []


def test_a_name_that_resolves_to_loopback_after_the_check_is_refused_at_connect(dns, receiver, connections):
    # DNS rebinding: a public answer for the check, loopback for whoever looks next.
    dns["rebind.example.com"] = [[PUBLIC], ["127.0.0.1"]]

    with pytest.raises(outbound.Refused) as refused:
        outbound.request(
            "POST", f"http://rebind.example.com:{port_of(receiver)}/hook", about="the endpoint", public_only=True
        )

    assert str(refused.value) == (
        f"The endpoint was not called: its host rebind.example.com resolves to a loopback address; {RULE}."
    )
    assert dns["rebind.example.com"] == [["127.0.0.1"]]  # both lookups were made
    assert connections == []
    assert receiver.received == []


def test_the_connection_goes_to_the_checked_address_with_the_host_header_naming_the_host(
    settings, dns, receiver, connections
):
    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    dns["hooks.example.com"] = [["127.0.0.1"]]
    url = f"http://hooks.example.com:{port_of(receiver)}/hook"

    got = outbound.request("POST", url, about="the endpoint", content=b"{}", public_only=True)

    assert got.status == 200
    assert connections == ["127.0.0.1"]
    [received] = receiver.received
    assert received["headers"]["Host"] == f"hooks.example.com:{port_of(receiver)}"


def test_https_to_a_checked_address_still_names_the_host_in_tls_and_verifies_its_certificate(
    settings, dns, connections, tmp_path, monkeypatch
):
    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    dns["hooks.example.com"] = [["127.0.0.1"]]
    server_context, client_context = tls_for("hooks.example.com", tmp_path)
    named: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: named.append(name)
    monkeypatch.setattr(outbound, "_trust", lambda: client_context)

    with Receiver() as receiver:
        receiver.server.socket = server_context.wrap_socket(receiver.server.socket, server_side=True)
        url = f"https://hooks.example.com:{port_of(receiver)}/hook"
        got = outbound.request("POST", url, about="the endpoint", content=b"{}", public_only=True)

    assert got.status == 200
    assert connections == ["127.0.0.1"]
    assert named == ["hooks.example.com"]
    assert receiver.received[0]["headers"]["Host"] == f"hooks.example.com:{port_of(receiver)}"


def test_operator_calls_are_exempt_and_user_urls_are_not(receiver):
    exempt = outbound.request("POST", receiver.url, about="the Heroku API", content=b"{}")

    with pytest.raises(outbound.Refused):
        outbound.request("POST", receiver.url, about="the endpoint", content=b"{}", public_only=True)

    assert exempt.status == 200
    assert len(receiver.received) == 1


def test_only_http_and_https_are_called():
    assert outbound.refusal("ftp://example.com/hook") == "only http and https URLs are called"
    assert outbound.refusal("https:///hook") == "it names no host"
    with pytest.raises(outbound.Refused) as refused:
        outbound.request("GET", "file:///etc/passwd", about="the endpoint", public_only=True)
    assert str(refused.value) == "The endpoint was not called: only http and https URLs are called."


# The setting ---------------------------------------------------------------------------------


def test_the_setting_reads_comma_separated_networks(monkeypatch):
    monkeypatch.setenv("OUTBOUND_ALLOWED_NETWORKS", " 127.0.0.0/8, fd00::/8,10.0.0.5 ")
    assert env_networks("OUTBOUND_ALLOWED_NETWORKS") == ["127.0.0.0/8", "fd00::/8", "10.0.0.5/32"]
    monkeypatch.setenv("OUTBOUND_ALLOWED_NETWORKS", "")
    assert env_networks("OUTBOUND_ALLOWED_NETWORKS") == []


@pytest.mark.parametrize("value", ["intranet", "10.0.0.0/33", "10.0.0.1/8", "127.0.0.0/8;10.0.0.0/8"])
def test_a_setting_that_is_no_network_stops_the_start_with_a_sentence(monkeypatch, value):
    monkeypatch.setenv("OUTBOUND_ALLOWED_NETWORKS", f"192.168.0.0/16,{value}")

    with pytest.raises(ImproperlyConfigured) as refused:
        env_networks("OUTBOUND_ALLOWED_NETWORKS")

    assert str(refused.value).startswith(
        f"OUTBOUND_ALLOWED_NETWORKS must list networks in CIDR notation, such as 10.0.0.0/8; {value!r} is not one ("
    )


# A certificate of our own --------------------------------------------------------------------


def tls_for(name: str, folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for `name`, and a client context that
    trusts it alone (and checks the name, as the system's default context does)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client
