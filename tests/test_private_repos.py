"""Private repositories: read credentials, encrypted at rest, handed to git only via its environment."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from portal.actor import Actor
from projects import mirror, services
from projects.git import GitError
from projects.models import App
from tests.gitutil import git


def serve_copy_of(repo, http_git) -> str:
    git("clone", "--quiet", "--bare", str(repo.path), str(http_git.root / "private.git"))
    return http_git.url("private.git")


def staff_actor(users) -> Actor:
    return Actor(user=users["staff"], source="admin")


def test_an_https_token_lets_the_mirror_clone_a_private_repository(users, repo, http_git):
    app = App.objects.create(slug="private", name="Private", repo_url=serve_copy_of(repo, http_git))
    services.app_set_credentials(actor=staff_actor(users), app=app, repo_token=http_git.password)

    mirror.sync(App.objects.get(pk=app.pk))

    commits, _ = mirror.commits(app, "main")
    assert [c.sha for c in commits] == list(reversed(repo.shas))


def test_the_token_is_encrypted_at_rest_and_not_in_the_audit(users, repo, http_git):
    app = App.objects.create(slug="private", name="Private", repo_url=serve_copy_of(repo, http_git))
    services.app_set_credentials(actor=staff_actor(users), app=app, repo_token=http_git.password)

    stored = App.objects.get(pk=app.pk)
    assert http_git.password not in stored.repo_token_encrypted
    assert stored.repo_token == http_git.password
    from portal.audit.models import AuditEvent

    event = AuditEvent.objects.get(action="app.changed")
    assert http_git.password not in event.detail
    assert "repo_token" in event.detail


def test_a_wrong_token_fails_with_a_clear_error_that_hides_it(users, repo, http_git):
    app = App.objects.create(slug="private", name="Private", repo_url=serve_copy_of(repo, http_git))
    services.app_set_credentials(actor=staff_actor(users), app=app, repo_token="not-the-token-123")

    with pytest.raises(GitError) as failure:
        mirror.sync(App.objects.get(pk=app.pk))

    assert "Authentication failed" in str(failure.value)
    assert "not-the-token-123" not in str(failure.value)
    assert not mirror.exists(app)


def test_an_ssh_remote_never_prompts_and_leaves_no_key_on_disk(users, data_dir: Path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there: ssh must fail at once, not wait for a prompt
    app = App.objects.create(slug="ssh", name="SSH", repo_url=f"ssh://git@127.0.0.1:{port}/repo.git")
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----"
    known = f"[127.0.0.1]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest"
    services.app_set_credentials(actor=staff_actor(users), app=app, ssh_key=key, ssh_known_hosts=known)  # fmt: skip

    started = time.monotonic()
    with pytest.raises(GitError) as failure:
        mirror.sync(App.objects.get(pk=app.pk))

    assert time.monotonic() - started < 30
    assert "Could not read from remote repository" in str(failure.value) or "refused" in str(failure.value)
    leftovers = [p for p in data_dir.rglob("*") if p.is_file() and b"OPENSSH PRIVATE KEY" in p.read_bytes()]
    assert leftovers == []


def test_only_app_admins_may_change_credentials(app, users):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.app_set_credentials(actor=Actor(user=users["deployer"], source="web"), app=app, repo_token="x")
    assert App.objects.get(pk=app.pk).repo_token == ""
