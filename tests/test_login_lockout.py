"""The login lockout under attack: parallel guesses, many addresses, a moving clock, password
changes, and the audit kept small when names are guessed.

The count lives in the shared cache; a lock is per user name and client address after
LOGIN_FAILURE_LIMIT failures, and per name from everywhere after ten times as many. Times come
from a settable clock (`clock`), never from sleeping.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone

from portal.audit.models import AuditEvent

LOGIN = "/accounts/login/"
PASSWORD = "pw-deployer-Long1"
HERE = "203.0.113.9"


class GatedHasher(MD5PasswordHasher):
    """The tests' MD5 hasher, counting every password it checks and holding each check until the
    gate opens, so a test decides how long checks stay in flight."""

    checked = 0
    counting = threading.Lock()
    gate = threading.Event()

    def verify(self, password: str, encoded: str) -> bool:
        with GatedHasher.counting:
            GatedHasher.checked += 1
        GatedHasher.gate.wait(timeout=30)
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def fresh_cache(db):
    """The counts live in the cache, which a test's rollback does not reach with Redis, nor the
    flush between transactional tests with the database's cache table."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hasher(settings):
    GatedHasher.checked = 0
    GatedHasher.gate.set()
    settings.PASSWORD_HASHERS = ["tests.test_login_lockout.GatedHasher"]
    yield GatedHasher
    GatedHasher.gate.set()


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now()

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moving = Clock()
    monkeypatch.setattr("django.utils.timezone.now", lambda: moving.now)
    return moving


def attempt(password: str, username: str = "deployer", ip: str = HERE):
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def count(action: str, **where) -> int:
    return AuditEvent.objects.filter(action=action, **where).count()


# Parallel attempts against a live server (threads, each request on its own connection)


@pytest.fixture
def live(live_server, users, hasher) -> str:
    return live_server.url


# One TLS context for every client: httpx otherwise loads the CA bundle for each (some 30 ms, and
# a test makes thirty). The live server speaks plain HTTP, so the context is never used anyway.
TLS = httpx.create_ssl_context()


def browser(base: str) -> tuple[httpx.Client, str]:
    """A client that has loaded the login page: its CSRF cookie, ready to post."""
    client = httpx.Client(base_url=base, timeout=60, verify=TLS)
    client.get(LOGIN).raise_for_status()
    return client, client.cookies["csrftoken"]


def post_login(client: httpx.Client, csrf: str, password: str) -> httpx.Response:
    form = {"username": "deployer", "password": password, "csrfmiddlewaretoken": csrf}
    return client.post(LOGIN, data=form, headers={"Referer": str(client.base_url) + LOGIN})


def live_logged_in(response: httpx.Response) -> bool:
    return response.status_code == 302 and "sessionid" in response.cookies


def until(predicate, *, seconds: float) -> bool:
    """Poll a condition another thread changes; False once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_parallel_guesses_check_at_most_the_limit_and_the_right_password_after_them_fails(live, settings, hasher):
    limit = settings.LOGIN_FAILURE_LIMIT = 5
    guesses = 29
    clients = [browser(live) for _ in range(guesses + 1)]
    start = threading.Barrier(guesses)

    def guess(client: tuple[httpx.Client, str]) -> httpx.Response:
        start.wait(timeout=30)
        return post_login(*client, "wrong-password")

    hasher.gate.clear()  # the checks that get through stay in flight until the right password was tried
    with ThreadPoolExecutor(max_workers=guesses + 1) as pool:
        try:
            answers = [pool.submit(guess, client) for client in clients[:guesses]]
            until(lambda: sum(answer.done() for answer in answers) >= guesses - limit, seconds=20)
            right = pool.submit(post_login, *clients[-1], PASSWORD)
            until(right.done, seconds=10)
            checked_before_any_finished = hasher.checked
        finally:
            hasher.gate.set()
        answers = [answer.result(timeout=60) for answer in answers]
        right = right.result(timeout=60)

    assert checked_before_any_finished <= limit
    assert hasher.checked <= limit
    assert not live_logged_in(right)
    assert "Too many failed logins" in right.text
    assert not any(live_logged_in(answer) for answer in answers)
    assert count("auth.login_failed", actor="deployer") == hasher.checked
    assert count("auth.lockout", actor="deployer") == 1
    assert count("auth.login", actor="deployer") == 0


def test_thirty_guesses_at_once_check_no_more_than_the_limit(live, settings, hasher):
    limit = settings.LOGIN_FAILURE_LIMIT = 5
    clients = [browser(live) for _ in range(30)]
    start = threading.Barrier(len(clients))

    def guess(client: tuple[httpx.Client, str]) -> httpx.Response:
        start.wait(timeout=30)
        return post_login(*client, "wrong-password")

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        answers = list(pool.map(guess, clients, timeout=120))

    assert [answer.status_code for answer in answers] == [200] * len(clients)
    assert hasher.checked == limit
    assert count("auth.login_failed", actor="deployer") == limit
    assert count("auth.lockout", actor="deployer") == 1
    right = post_login(*browser(live), PASSWORD)
    assert not live_logged_in(right) and hasher.checked == limit


# One address, many addresses, and the clock


def test_a_name_locked_from_one_address_still_logs_in_from_another(users, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        attempt("wrong", ip="198.51.100.66")

    assert not logged_in(attempt(PASSWORD, ip="198.51.100.66"))
    assert logged_in(attempt(PASSWORD, ip=HERE))


def test_an_ipv6_client_is_counted_by_its_64_block(users, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    attempt("wrong", ip="2001:db8:1:2::1")
    attempt("wrong", ip="2001:db8:1:2::2")

    assert not logged_in(attempt(PASSWORD, ip="2001:db8:1:2:ffff::9"))
    assert logged_in(attempt(PASSWORD, ip="2001:db8:1:3::1"))


def test_ten_times_the_limit_from_many_addresses_locks_the_name_everywhere(users, settings, clock):
    settings.LOGIN_FAILURE_LIMIT = 2
    for n in range(10):
        for _ in range(2):
            attempt("wrong", ip=f"198.51.100.{n}")

    refused = attempt(PASSWORD, ip="192.0.2.200")

    assert not logged_in(refused)
    assert b"Too many failed logins" in refused.content
    assert count("auth.login_failed") == 20
    [everywhere] = AuditEvent.objects.filter(action="auth.lockout", detail__contains="every address")
    assert everywhere.detail == "Locked out deployer from every address for 15 minutes after 20 failed logins."
    assert count("auth.lockout") == 11  # each address's lock, and the name's
    clock.advance(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1)
    assert logged_in(attempt(PASSWORD, ip="192.0.2.200"))


def test_refused_attempts_check_no_password_and_are_not_recorded_one_by_one(users, settings, hasher):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        attempt("wrong")
    assert hasher.checked == 3

    for password in ["wrong"] * 10 + [PASSWORD]:
        assert not logged_in(attempt(password))

    assert hasher.checked == 3
    assert count("auth.login_failed") == 3
    assert count("auth.lockout") == 1


def test_the_lock_lasts_its_minutes_from_when_it_began(users, settings, clock):
    settings.LOGIN_FAILURE_LIMIT = 2
    attempt("wrong")
    clock.advance(minutes=10)
    attempt("wrong")  # the lock begins here

    clock.advance(minutes=settings.LOGIN_LOCKOUT_MINUTES - 1)
    assert not logged_in(attempt(PASSWORD))
    clock.advance(minutes=1, seconds=1)
    assert logged_in(attempt(PASSWORD))


def test_failures_older_than_the_window_no_longer_count(users, settings, clock):
    settings.LOGIN_FAILURE_LIMIT = 3
    attempt("wrong")
    attempt("wrong")
    clock.advance(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1)
    attempt("wrong")
    attempt("wrong")

    assert logged_in(attempt(PASSWORD))
    assert count("auth.lockout") == 0


def test_failures_on_both_sides_of_a_window_boundary_count_together(users, settings, clock):
    settings.LOGIN_FAILURE_LIMIT = 3
    window = settings.LOGIN_LOCKOUT_MINUTES * 60
    boundary = (int(clock.now.timestamp()) // window + 1) * window
    clock.set(datetime.fromtimestamp(boundary - 30, tz=UTC))
    attempt("wrong")
    attempt("wrong")
    clock.advance(minutes=1)  # past the boundary
    attempt("wrong")

    assert not logged_in(attempt(PASSWORD))
    assert count("auth.lockout") == 1


# Changing one's password


PASSWORD_CHANGE = "/accounts/password_change/"


def change(client: Client, old: str, new: str = "a-New-pass-2027"):
    form = {"old_password": old, "new_password1": new, "new_password2": new}
    return client.post(PASSWORD_CHANGE, form, REMOTE_ADDR=HERE)


def test_wrong_old_passwords_count_in_the_same_lockout(users, settings, browser_client):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = browser_client("deployer")
    for _ in range(3):
        assert change(client, "guess").status_code == 200

    refused = change(client, PASSWORD)

    assert refused.status_code == 200 and b"Too many failed logins" in refused.content
    users["deployer"].refresh_from_db()
    assert users["deployer"].check_password(PASSWORD)
    assert not logged_in(attempt(PASSWORD))
    failed = AuditEvent.objects.filter(action="auth.login_failed", actor="deployer")
    assert [event.detail for event in failed] == [
        "Wrong current password given to change the password of deployer."
    ] * 3
    assert count("auth.lockout", actor="deployer") == 1
    assert count("auth.password_changed") == 0


def test_failed_logins_lock_the_password_change_as_well(users, settings, browser_client):
    settings.LOGIN_FAILURE_LIMIT = 2
    attempt("wrong")
    attempt("wrong")

    refused = change(browser_client("deployer"), PASSWORD)

    assert refused.status_code == 200 and b"Too many failed logins" in refused.content
    users["deployer"].refresh_from_db()
    assert users["deployer"].check_password(PASSWORD)


def test_a_password_change_is_audited_and_keeps_this_session(users, browser_client):
    client = browser_client("deployer")

    response = change(client, PASSWORD)

    assert response.status_code == 302
    [event] = AuditEvent.objects.filter(action="auth.password_changed")
    assert (event.actor, event.source, event.ip) == ("deployer", "web", HERE)
    assert "a-New-pass-2027" not in event.detail and PASSWORD not in event.detail
    assert client.get("/accounts/profile/").status_code == 200


# Names guessed by strangers, and the append-only audit


def test_failed_logins_for_unknown_names_leave_a_few_events_per_address_and_minute(db, clock):
    for n in range(50):
        attempt("guess", username=f"nobody-{n}")
    attempt("guess", username="stranger", ip="192.0.2.1")  # another address has its own few

    assert count("auth.login_failed", ip=HERE) == 3
    assert count("auth.login_failed", ip="192.0.2.1") == 1
    clock.advance(minutes=1)
    attempt("guess", username="nobody-again")

    latest = AuditEvent.objects.filter(action="auth.login_failed", ip=HERE).order_by("-id").first()
    assert latest.detail == (
        "Failed login as nobody-again. Also 47 failed logins for unknown names from this address, "
        "not recorded one by one."
    )
    assert count("auth.login_failed", ip=HERE) == 4


def test_locks_of_unknown_names_share_the_same_few_events(db, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for n in range(20):
        attempt("guess", username=f"nobody-{n}")
        attempt("guess", username=f"nobody-{n}")

    assert count("auth.login_failed") + count("auth.lockout") <= 3


def test_a_tried_name_is_cut_to_150_characters(db):
    request = RequestFactory().post(LOGIN, REMOTE_ADDR=HERE)

    assert authenticate(request, username="x" * 10_000, password="guess") is None

    [event] = AuditEvent.objects.filter(action="auth.login_failed")
    assert event.actor == "x" * 150
    assert event.detail == f"Failed login as {'x' * 150}."


def test_other_names_failures_never_refuse_a_real_users_right_password(users, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for n in range(30):
        attempt("guess", username=f"nobody-{n}")
        attempt("guess", username=f"nobody-{n}")
    attempt("wrong", username="viewer")

    assert logged_in(attempt(PASSWORD))
    assert count("auth.login_failed", actor="viewer") == 1  # a real user's failure is always recorded
