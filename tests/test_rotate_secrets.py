"""A new ENCRYPTION_KEY without re-entering secrets: old keys still read, `rotate_secrets` moves them."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from deployments.models import Webhook
from portal import crypto
from portal.audit.models import AuditEvent
from projects.models import App, CommitStatus, Target
from tests.cd_helpers import github

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
# Plain values, each distinct, so any of them showing up in output or the audit is caught.
PLAIN = {
    "repo_token": "repo-token-4f1c9e",
    "ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nssh-key-8b2d71\n-----END OPENSSH PRIVATE KEY-----",
    "github_secret": "github-secret-07aa5c",
    "api_key": "heroku-api-key-93e6d0",
    "webhook_secret": "webhook-secret-c55b12",
}


def stored_with(key: str, value: str) -> str:
    return Fernet(key.encode()).encrypt(value.encode()).decode()


@pytest.fixture
def secrets_under_the_old_key(db, settings, repo) -> App:
    """Every kind of stored secret, written while OLD_KEY was ENCRYPTION_KEY; now NEW_KEY is."""
    settings.ENCRYPTION_KEY, settings.ENCRYPTION_OLD_KEYS = NEW_KEY, [OLD_KEY]
    app = App.objects.create(
        slug="shop", name="Shop", repo_url=str(repo.path),
        repo_token_encrypted=stored_with(OLD_KEY, PLAIN["repo_token"]),
        ssh_key_encrypted=stored_with(OLD_KEY, PLAIN["ssh_key"]),
        github_secret_encrypted=stored_with(OLD_KEY, PLAIN["github_secret"]),
    )  # fmt: skip
    Target.objects.create(
        app=app, slug="prod", name="Prod", heroku_app="shop-prod",
        api_key_encrypted=stored_with(OLD_KEY, PLAIN["api_key"]),
    )  # fmt: skip
    Webhook.objects.create(
        app=app, name="Chat", url="https://chat.example.com/hook", format=Webhook.Format.JSON,
        secret_encrypted=stored_with(OLD_KEY, PLAIN["webhook_secret"]),
    )  # fmt: skip
    return app


def readable_values() -> dict[str, str]:
    app = App.objects.get(slug="shop")
    return {
        "repo_token": app.repo_token,
        "ssh_key": app.ssh_key,
        "github_secret": app.github_secret,
        "api_key": Target.objects.get(slug="prod").api_key,
        "webhook_secret": crypto.decrypt(Webhook.objects.get().secret_encrypted),
    }


def rotate() -> str:
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    return out.getvalue()


def test_secrets_stored_under_an_old_key_are_read_while_it_is_listed_in_encryption_old_keys(
    secrets_under_the_old_key, settings
):
    assert readable_values() == PLAIN
    settings.ENCRYPTION_OLD_KEYS = []
    with pytest.raises(ValueError):
        readable_values()


def test_a_github_webhook_signed_with_a_secret_under_an_old_key_is_accepted(secrets_under_the_old_key, repo):
    event = {"sha": repo.shas[-1], "state": "success", "context": "ci/tests", "target_url": None,
             "description": None, "updated_at": "2025-01-01T10:00:00Z"}  # fmt: skip

    response = github("status", event, secret=PLAIN["github_secret"])

    assert response.status_code == 201, response.content
    assert CommitStatus.objects.filter(sha=repo.shas[-1], state="success").exists()


def test_new_secrets_are_written_with_the_current_key_only(settings):
    settings.ENCRYPTION_KEY, settings.ENCRYPTION_OLD_KEYS = NEW_KEY, [OLD_KEY]

    token = crypto.encrypt("a-new-secret")

    assert Fernet(NEW_KEY.encode()).decrypt(token.encode()) == b"a-new-secret"
    settings.ENCRYPTION_OLD_KEYS = []
    assert crypto.decrypt(token) == "a-new-secret"


def test_it_re_encrypts_every_secret_with_the_current_key_so_old_keys_can_be_dropped(
    secrets_under_the_old_key, settings
):
    output = rotate()

    assert "Rotated 5 stored secret(s)" in output
    settings.ENCRYPTION_OLD_KEYS = []
    assert readable_values() == PLAIN


def test_running_it_again_rotates_nothing_more(secrets_under_the_old_key):
    rotate()
    stored = App.objects.values_list("repo_token_encrypted", flat=True).get()

    assert "Rotated 0 stored secret(s) to the current ENCRYPTION_KEY (5 already used it)." in rotate()
    assert App.objects.values_list("repo_token_encrypted", flat=True).get() == stored


def test_it_records_one_audit_event_without_any_secret(secrets_under_the_old_key):
    output = rotate()

    event = AuditEvent.objects.get(action="secrets.rotated")
    assert (event.actor, event.source) == ("system", "cli")
    assert "Rotated 5" in event.detail
    for value in PLAIN.values():
        assert value not in event.detail
        assert value not in output


def test_a_secret_no_key_can_read_fails_the_command_and_is_left_as_it_was(secrets_under_the_old_key, settings):
    lost = stored_with(Fernet.generate_key().decode(), "lost-secret-61d0e2")
    Target.objects.filter(slug="prod").update(api_key_encrypted=lost)

    with pytest.raises(CommandError) as failure:
        rotate()

    assert "cannot be read with ENCRYPTION_KEY or any of ENCRYPTION_OLD_KEYS" in str(failure.value)
    assert "target shop/prod (api_key)" in str(failure.value)
    assert "lost-secret-61d0e2" not in str(failure.value)
    assert Target.objects.get(slug="prod").api_key_encrypted == lost
    # The others moved all the same, and the run is audited once, saying what it could not read.
    settings.ENCRYPTION_OLD_KEYS = []
    assert App.objects.get(slug="shop").repo_token == PLAIN["repo_token"]
    assert "1 unreadable" in AuditEvent.objects.get(action="secrets.rotated").detail


def test_the_command_exits_non_zero_with_a_sentence_when_a_secret_cannot_be_read(copy_data_dir):
    """A real process: manage.py with its own SQLite DATA_DIR, a secret stored under a lost key."""
    base = Path(__file__).resolve().parent.parent
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
    # A migrated database of its own (its migrate ran once for the session; it holds no secret).
    env.update(DATA_DIR=str(copy_data_dir("process-data")), ENCRYPTION_KEY=NEW_KEY, ENCRYPTION_OLD_KEYS=OLD_KEY)
    env.pop("SECRET_KEY", None)

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=base, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    made = manage("shell", "-c", (
        "from projects.models import App; "
        f"App.objects.create(slug='shop', name='Shop', repo_url='/srv/shop.git', "
        f"repo_token_encrypted={stored_with(OLD_KEY, 'kept-token-1')!r}, "
        f"ssh_key_encrypted={stored_with(Fernet.generate_key().decode(), 'lost-key-2')!r})"
    ))  # fmt: skip
    assert made.returncode == 0, made.stderr

    done = manage("rotate_secrets")

    assert done.returncode != 0
    assert "Rotated 1 stored secret(s)" in done.stdout
    assert "app Shop (ssh_key)" in done.stderr
    assert "kept-token-1" not in done.stdout + done.stderr
    assert "lost-key-2" not in done.stdout + done.stderr


def test_a_malformed_old_key_stops_the_process_without_printing_it(tmp_path):
    base = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "ENCRYPTION_OLD_KEYS": f"{OLD_KEY},not-a-key-5e1"}

    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=base, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip

    assert done.returncode != 0
    assert "ENCRYPTION_OLD_KEYS must list Fernet keys" in done.stderr
    assert "key 2 is not one" in done.stderr
    assert "not-a-key-5e1" not in done.stderr
