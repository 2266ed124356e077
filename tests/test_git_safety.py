"""What git may touch and see: Bartender's own folders, its environment, replace refs, odd bytes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from deployments.models import LogLine
from projects import mirror
from projects.git import Credentials, environment
from projects.models import Target
from tests.gitutil import bare_remote, git

TARGETS = "/api/apps/shop/targets"


def test_a_target_cannot_push_into_bartenders_own_mirrors(app, api, data_dir: Path):
    mirror.sync(app)
    for url in (str(mirror.path(app)), str(data_dir), str(data_dir / "mirrors" / "../mirrors/1.git")):
        response = api("app_admin").post(TARGETS, {"slug": "poison", "name": "P", "remote_url": url})
        assert response.status_code == 400, url
        assert response.json()["detail"].startswith("remote_url:")
    assert not Target.objects.filter(slug="poison").exists()


def test_a_push_ref_outside_branches_and_tags_is_refused(app, api, tmp_path: Path):
    remote = bare_remote(tmp_path / "other.git")
    api("staff").call("patch", "/api/apps/shop", {"allowed_remotes": [str(remote)]})
    for ref in ("refs/replace/" + "a" * 40, "refs/notes/commits", "HEAD"):
        response = api("app_admin").post(
            TARGETS, {"slug": "odd", "name": "O", "remote_url": str(remote), "push_ref": ref}
        )
        assert response.status_code == 400, ref
        assert response.json()["detail"].startswith("push_ref:")
    ok = api("app_admin").post(
        TARGETS, {"slug": "tag", "name": "T", "remote_url": str(remote), "push_ref": "refs/tags/live"}
    )
    assert ok.status_code == 201


def test_separator_bytes_in_a_commit_cannot_forge_rows(app, api, repo):
    forged = f"Bump\x1e{repo.shas[0]}\x1fAlice Admin\x1f2030-01-01T00:00:00+00:00\x1fSecurity fix (reviewed)"
    sha = repo.commit(forged, {"x.txt": "x"}, author="Mallory\x1fEve")

    rows = api("viewer").get("/api/apps/shop/commits?limit=3").json()

    assert [row["sha"] for row in rows] == [sha, repo.shas[-2], repo.shas[-3]]
    assert rows[0]["message"] == forged
    assert not any(row["author"] == "Alice Admin" for row in rows)


def test_git_never_sees_the_workers_secrets(app, api, deploy, repo, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ENCRYPTION_KEY", "the-encryption-key-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://bartender:db-password@db/bartender")
    hook = "#!/bin/sh\nenv | sed 's/^/env: /'\n"
    remote = bare_remote(tmp_path / "printing.git", hook)
    api("staff").post(TARGETS, {"slug": "env", "name": "Env", "remote_url": str(remote)})

    deployment = deploy(target="env")

    log = "\n".join(LogLine.objects.filter(deployment=deployment).values_list("text", flat=True))
    assert deployment.status == "succeeded", deployment.reason
    assert "env: PATH=" in log  # the hook did print its environment
    assert "the-encryption-key-value" not in log
    assert "db-password" not in log
    assert "GIT_CONFIG_GLOBAL=/dev/null" in log


def test_replace_refs_in_the_mirror_do_not_change_the_history_shown(app, api, repo):
    mirror.sync(app)
    git("replace", repo.shas[-1], repo.shas[0], cwd=mirror.path(app))  # as a stray push of refs/replace would

    rows = api("viewer").get("/api/apps/shop/commits?limit=1").json()

    assert rows[0]["sha"] == repo.shas[-1]
    assert rows[0]["message"] == "Commit number 5"


def test_key_folders_left_by_a_killed_process_are_removed(data_dir: Path):
    stale = data_dir / "tmp" / "ssh-left-behind"
    stale.mkdir(parents=True)
    (stale / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nold\n")
    three_hours_ago = time.time() - 3 * 3600
    os.utime(stale, (three_hours_ago, three_hours_ago))

    with environment(Credentials(ssh_key="-----BEGIN OPENSSH PRIVATE KEY-----\nnew\n")) as env:
        assert "-i" in env["GIT_SSH_COMMAND"]

    assert not stale.exists()
    assert list((data_dir / "tmp").glob("ssh-*")) == []


def test_a_worker_refuses_to_push_into_its_own_mirrors(app, deploy, data_dir: Path):
    # Validated on a web machine whose DATA_DIR differs; on this worker the path is its own mirror.
    Target.objects.create(app=app, slug="sneaky", name="Sneaky", remote_url=str(data_dir / "mirrors" / "999.git"))

    deployment = deploy(target="sneaky")

    assert deployment.status == "failed"
    assert "Bartender's own working folders" in deployment.reason
    assert not (data_dir / "mirrors" / "999.git").exists()
