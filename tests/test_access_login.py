"""Logging in and out: audited, locked after repeated failures, passwords changed by their owners."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from portal.audit.models import AuditEvent

LOGIN = "/accounts/login/"
PASSWORD = "pw-deployer-Long1"


def attempt(password: str, username: str = "deployer", client: Client | None = None, path: str = LOGIN):
    return (client or Client()).post(path, {"username": username, "password": password}, REMOTE_ADDR="203.0.113.9")


def actions(actor: str = "deployer") -> list[str]:
    return list(AuditEvent.objects.filter(actor=actor).order_by("id").values_list("action", flat=True))


def test_a_good_login_and_a_logout_are_audited_once_each_with_the_ip(users):
    client = Client()
    response = attempt(PASSWORD, client=client)
    assert response.status_code == 302

    client.post("/accounts/logout/", REMOTE_ADDR="203.0.113.9")

    assert actions() == ["auth.login", "auth.logout"]
    login = AuditEvent.objects.get(action="auth.login")
    assert (login.source, login.ip, login.detail) == ("web", "203.0.113.9", "Logged in.")


def test_a_failed_login_is_audited_with_the_name_tried(users):
    response = attempt("wrong-password")

    assert response.status_code == 200
    assert b"did not match" in response.content
    [event] = AuditEvent.objects.filter(action="auth.login_failed")
    assert (event.actor, event.ip, event.detail) == ("deployer", "203.0.113.9", "Failed login as deployer.")


def test_five_failures_lock_the_account_even_against_the_right_password(users, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    for _ in range(5):
        attempt("wrong-password")

    response = attempt(PASSWORD)

    assert response.status_code == 200
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in response.client.session
    # The refused attempt checked no password, so it is not a failed login (the lockout says why).
    assert actions() == ["auth.login_failed"] * 5 + ["auth.lockout"]
    lockout = AuditEvent.objects.get(action="auth.lockout")
    assert (lockout.detail, lockout.ip) == ("Locked out deployer for 15 minutes after 5 failed logins.", "203.0.113.9")


def test_the_admin_login_is_locked_as_well(users, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    attempt("wrong", username="staff")
    attempt("wrong", username="staff")

    # From the same address: the lock is on the name and the address it was guessed from.
    response = attempt("pw-staff-Long1", username="staff", client=Client(), path="/admin/login/")

    assert response.status_code == 200
    assert "_auth_user_id" not in response.client.session
    assert actions("staff") == ["auth.login_failed", "auth.login_failed", "auth.lockout"]


def test_the_lockout_ends_after_its_minutes(users, settings, monkeypatch):
    settings.LOGIN_FAILURE_LIMIT = 2
    attempt("wrong")
    attempt("wrong")
    later = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)

    assert attempt(PASSWORD).status_code == 302


def test_a_good_login_forgives_earlier_failures(users, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    attempt("wrong")
    attempt("wrong")
    assert attempt(PASSWORD).status_code == 302
    attempt("wrong")
    attempt("wrong")

    assert attempt(PASSWORD).status_code == 302
    assert not AuditEvent.objects.filter(action="auth.lockout").exists()


def test_users_change_their_own_password(users, browser_client):
    client = browser_client("viewer")
    page = client.get("/accounts/password_change/")
    assert page.status_code == 200
    assert b"Change your password" in page.content

    response = client.post(
        "/accounts/password_change/",
        {"old_password": "pw-viewer-Long1", "new_password1": "a-New-pass-2027", "new_password2": "a-New-pass-2027"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/done/"
    users["viewer"].refresh_from_db()
    assert users["viewer"].check_password("a-New-pass-2027")


def test_a_weak_new_password_is_refused(users, browser_client):
    client = browser_client("viewer")

    response = client.post(
        "/accounts/password_change/",
        {"old_password": "pw-viewer-Long1", "new_password1": "12345678", "new_password2": "12345678"},
    )

    assert response.status_code == 200
    users["viewer"].refresh_from_db()
    assert users["viewer"].check_password("pw-viewer-Long1")


def test_no_password_reset_by_email_is_offered(db):
    assert Client().get("/accounts/password_reset/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_the_login(db):
    for page in ("/", "/audit/", "/accounts/profile/", "/accounts/password_change/"):
        response = Client().get(page)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
