"""Single sign-on with OpenID Connect, against a real provider (oidc-provider, tests/oidc/) on loopback.

Each sign-in goes the whole way: Bartender's /oidc/login/ redirect, the provider's authorization
and interaction pages (plain HTTP; `login_hint` names the account), the callback, Bartender's
token exchange, ID token check and userinfo call against the running provider.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from portal.audit.models import AuditEvent
from portal.models import SsoIdentity

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
READY_SECONDS = 20
TEST_SERVER = "http://testserver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def provider(live_server) -> Iterator[str]:
    """The provider's issuer URL; its clients may return to the test client and to the live server."""
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("The single sign-on tests need Node.js and `npm ci` in tests/oidc (make test runs it).")
    port = free_port()
    process = subprocess.Popen(
        [node, "provider.mjs", str(port), f"{TEST_SERVER}/oidc/callback/", f"{live_server.url}/oidc/callback/"],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_SECONDS
        line = ""
        while not line.startswith("ready") and time.monotonic() < deadline and process.poll() is None:
            if select.select([process.stdout], [], [], 0.5)[0]:
                line = process.stdout.readline()
        if not line.startswith("ready"):
            pytest.fail(f"The test OpenID provider did not start within {READY_SECONDS} s.")
        yield line.split()[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sso(settings, provider: str) -> str:
    settings.OIDC_ISSUER = provider
    settings.OIDC_CLIENT_ID = "bartender"
    settings.OIDC_CLIENT_SECRET = "bartender-test-secret"
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_TEAM_MAP = {"platform": "Platform", "sre": "On-call"}
    settings.OIDC_STAFF_GROUPS = ["staff"]
    settings.OIDC_REQUIRE_GROUP = False
    settings.OIDC_ONLY = False
    settings.OIDC_BREAK_GLASS_USER = ""
    return provider


def account(provider: str, sub: str, **claims) -> None:
    """Add or change an account at the provider (its claims, groups among them)."""
    answer = httpx.put(f"{provider}/test/accounts/{sub}", content=json.dumps(claims), timeout=10)
    assert answer.status_code == 204


def at_provider(authorize_url: str, login: str) -> str:
    """Sign in at the provider as `login`; the callback URL (with code and state) it sends back."""
    url = f"{authorize_url}&{urlencode({'login_hint': login})}"
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        for _ in range(10):
            answer = http.get(url)
            assert answer.status_code in (302, 303), answer.text[:300]
            url = urljoin(url, answer.headers["location"])
            if "/oidc/callback/" in url:
                return url
    raise AssertionError("The provider never sent the browser back.")


def start(client: Client, next_url: str = "") -> str:
    answer = client.get("/oidc/login/", {"next": next_url} if next_url else {})
    assert answer.status_code == 302
    return answer["Location"]


def sign_in(login: str, *, client: Client | None = None, next_url: str = "", change=None):
    client = client or Client(REMOTE_ADDR="203.0.113.7")
    callback = urlsplit(at_provider(start(client, next_url), login))
    query = change(callback.query) if change else callback.query
    return client.get(callback.path + "?" + query)


def teams(username: str) -> set[str]:
    return set(get_user_model().objects.get(username=username).groups.values_list("name", flat=True))


def failures() -> list[str]:
    return list(AuditEvent.objects.filter(action="auth.sso_failed").values_list("detail", flat=True))


def test_without_an_issuer_there_is_no_single_sign_on(db, settings):
    settings.OIDC_ISSUER = ""
    assert b"Sign in with" not in Client().get("/accounts/login/").content
    assert Client().get("/oidc/login/").status_code == 404
    assert Client().get("/oidc/callback/?state=x&code=y").status_code == 404


def test_the_login_page_offers_the_provider_beside_the_password_form(sso, db):
    page = Client().get("/accounts/login/?next=/audit/").content.decode()
    assert "Sign in with Test IdP" in page
    assert "/oidc/login/?next=/audit/" in page
    assert 'name="password"' in page


def test_the_authorization_request_uses_pkce_state_and_nonce(sso, db):
    params = dict(parse_qsl(urlsplit(start(Client())).query))
    assert params["response_type"] == "code" and params["client_id"] == "bartender"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["redirect_uri"] == f"{TEST_SERVER}/oidc/callback/"


def test_a_first_sign_in_creates_the_user_with_teams_and_lands_on_the_dashboard(sso, db):
    client = Client(REMOTE_ADDR="203.0.113.7")
    answer = sign_in("alice", client=client)

    assert answer.status_code == 302 and answer["Location"] == "/"
    assert client.get("/").status_code == 200
    alice = get_user_model().objects.get(username="alice")
    assert (alice.email, alice.is_staff, alice.has_usable_password()) == ("alice@example.com", True, False)
    assert SsoIdentity.objects.get(user=alice).subject == "alice"
    assert teams("alice") == {"Platform"}
    login = AuditEvent.objects.get(action="auth.login")
    assert (login.actor, login.source, login.ip) == ("alice", "sso", "203.0.113.7")
    changed = AuditEvent.objects.get(action="access.changed")
    assert "joined Platform" in changed.detail and "is now staff" in changed.detail


def test_a_safe_next_is_followed_and_another_site_is_not(sso, db):
    assert sign_in("alice", next_url="/audit/")["Location"] == "/audit/"
    assert sign_in("alice", next_url="https://evil.example/")["Location"] == "/"


def test_the_next_sign_in_follows_the_subject_and_sets_teams_to_the_groups(sso, db):
    account(sso, "dora-sub", preferred_username="dora", email="dora@example.com", groups=["platform", "sre"])
    assert sign_in("dora-sub").status_code == 302
    assert teams("dora") == {"Platform", "On-call"}
    local = Group.objects.create(name="Local team")
    get_user_model().objects.get(username="dora").groups.add(local)

    # Renamed at the provider and removed from a group: still dora, without Platform.
    account(sso, "dora-sub", preferred_username="dora.renamed", email="dora@example.com", groups=["sre"])
    assert sign_in("dora-sub").status_code == 302
    assert not get_user_model().objects.filter(username="dora.renamed").exists()
    assert teams("dora") == {"On-call", "Local team"}  # the unmapped team is left alone
    assert "left Platform" in AuditEvent.objects.filter(action="access.changed").first().detail

    # No groups claim at all counts as no groups.
    account(sso, "dora-sub", preferred_username="dora")
    assert sign_in("dora-sub").status_code == 302
    assert teams("dora") == {"Local team"}
    assert list(AuditEvent.objects.filter(action="auth.login").values_list("source", flat=True)) == ["sso"] * 3


def test_a_tampered_state_is_refused_and_audited(sso, db):
    def tamper(query: str) -> str:
        params = dict(parse_qsl(query))
        params["state"] = params["state"][:-2] + "xx"
        return urlencode(params)

    answer = sign_in("alice", change=tamper)

    assert answer.status_code == 400
    assert b"state is wrong" in answer.content and b"Traceback" not in answer.content
    assert not get_user_model().objects.filter(username="alice").exists()
    assert "_auth_user_id" not in answer.client.session
    assert len(failures()) == 1
    assert not AuditEvent.objects.filter(action="auth.login_failed").exists()


def test_a_used_state_cannot_be_replayed(sso, db):
    client = Client()
    callback = urlsplit(at_provider(start(client), "alice"))
    assert client.get(callback.path + "?" + callback.query).status_code == 302
    client.logout()
    assert client.get(callback.path + "?" + callback.query).status_code == 400


def test_an_id_token_for_another_audience_is_refused(sso, settings, db):
    settings.OIDC_CLIENT_ID = "bartender-misaudience"

    answer = sign_in("alice")

    assert answer.status_code == 400
    assert b"wrong audience" in answer.content
    assert not get_user_model().objects.filter(username="alice").exists()
    assert failures() == ["The ID token was issued for another client (wrong audience)."]


def test_a_wrong_client_secret_is_refused_by_the_provider(sso, settings, db):
    settings.OIDC_CLIENT_SECRET = "not-the-secret"
    answer = sign_in("alice")
    assert answer.status_code == 502
    assert b"invalid_client" in answer.content and b"not-the-secret" not in answer.content


def test_a_provider_that_is_down_gives_a_clear_page(sso, settings, db):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"

    answer = Client().get("/oidc/login/")

    assert answer.status_code == 502
    assert b"could not be reached" in answer.content and b"Sign-in with Test IdP failed" in answer.content
    assert failures() == ["The sign-in provider could not be reached for its discovery document."]


def test_a_local_account_of_the_same_name_is_a_collision(sso, users, db):
    get_user_model().objects.create_user("bob", password="pw-bob-Long1")

    answer = sign_in("bob")

    assert answer.status_code == 409
    assert b"already exists and is not linked" in answer.content
    assert not SsoIdentity.objects.exists()
    assert not get_user_model().objects.get(username="bob").groups.exists()
    [event] = AuditEvent.objects.filter(action="auth.sso_failed")
    assert event.actor == "bob" and event.source == "sso"


def test_a_deactivated_user_cannot_sign_in(sso, db):
    assert sign_in("alice").status_code == 302
    get_user_model().objects.filter(username="alice").update(is_active=False)

    answer = sign_in("alice")

    assert answer.status_code == 403
    assert b"deactivated" in answer.content
    assert "_auth_user_id" not in answer.client.session


def test_require_group_refuses_a_user_in_no_mapped_group(sso, settings, db):
    settings.OIDC_REQUIRE_GROUP = True

    answer = sign_in("carol")

    assert answer.status_code == 403
    assert b"none of the groups" in answer.content
    assert not get_user_model().objects.filter(email="carol@example.com").exists()
    assert sign_in("bob").status_code == 302  # in sre, mapped to On-call


def test_sso_only_refuses_passwords_but_for_the_break_glass_account(sso, settings, users, db):
    settings.OIDC_ONLY = True
    settings.OIDC_BREAK_GLASS_USER = "staff"

    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page and "break-glass account only" in page
    refused = Client().post("/accounts/login/", {"username": "deployer", "password": "pw-deployer-Long1"})
    assert refused.status_code == 200
    assert b"Password sign-in is turned off: sign in with Test IdP." in refused.content
    assert "_auth_user_id" not in refused.client.session
    assert not AuditEvent.objects.filter(action__in=["auth.login", "auth.login_failed"]).exists()

    admin = Client().post("/admin/login/", {"username": "staff2", "password": "x"})
    assert "_auth_user_id" not in admin.client.session
    glass = Client()
    answer = glass.post("/admin/login/?next=/admin/", {"username": "staff", "password": "pw-staff-Long1"})
    assert answer.status_code == 302
    assert glass.get("/admin/").status_code == 200

    assert sign_in("alice").status_code == 302  # single sign-on still works


def test_sso_only_refuses_a_staff_password_at_the_admin_login(sso, settings, users, db):
    settings.OIDC_ONLY = True
    settings.OIDC_BREAK_GLASS_USER = "someone-else"
    answer = Client().post("/admin/login/?next=/admin/", {"username": "staff", "password": "pw-staff-Long1"})
    assert answer.status_code == 200
    assert "_auth_user_id" not in answer.client.session



def test_a_sign_in_left_for_more_than_ten_minutes_has_expired(sso, db):
    client = Client()
    callback = urlsplit(at_provider(start(client), "alice"))
    session = client.session
    for pending in session["oidc_pending"].values():
        pending["started_at"] -= 11 * 60
    session.save()

    answer = client.get(callback.path + "?" + callback.query)

    assert answer.status_code == 400
    assert b"has expired" in answer.content
    assert not get_user_model().objects.filter(username="alice").exists()


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("OIDC_ISSUER", "http://login.example.com", "must be an https URL"),
        ("OIDC_ISSUER", "https://login.example.com/?x=1", "without a query"),
        ("OIDC_TEAM_MAP", "platform=Platform,sre", "'sre' is not one"),
        ("OIDC_TEAM_MAP", "platform=", "'platform=' is not one"),
    ],
)
def test_bad_settings_are_refused_with_a_sentence(monkeypatch, name, value, sentence):
    from django.core.exceptions import ImproperlyConfigured

    from portal.env import env_issuer, env_team_map

    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=sentence):
        (env_issuer if name == "OIDC_ISSUER" else env_team_map)(name)


def test_settings_map_groups_to_teams(monkeypatch):
    from portal.env import env_issuer, env_team_map

    monkeypatch.setenv("OIDC_TEAM_MAP", "platform=Platform, sre = On-call team")
    monkeypatch.setenv("OIDC_ISSUER", "https://login.example.com/")
    assert env_team_map("OIDC_TEAM_MAP") == {"platform": "Platform", "sre": "On-call team"}
    assert env_issuer("OIDC_ISSUER") == "https://login.example.com"
