"""Hostile refs, URLs and request bodies: each a 4xx with a sentence, and nothing executed.

Every payload that could run a command would create the canary file; after the whole table,
including a worker's pass over the queue, it must not exist and nothing may have been created.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.models import Deployment
from projects import git
from projects.git import GitError
from projects.models import App, Target
from tests.gitutil import git as run_git
from tests.helpers import run_worker

DEPLOYS = "/api/apps/shop/targets/staging/deployments"
CANARY = "CANARY"  # replaced by the test's canary path

HOSTILE_REFS = [
    f"--upload-pack=touch {CANARY}",
    f"--exec=touch {CANARY}",
    f"-c core.sshCommand=touch {CANARY}",
    f"--output={CANARY}",
    "-",
    "--",
    "--end-of-options",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"main;touch {CANARY}",
    f"main && touch {CANARY}",
    f"main|touch {CANARY}",
    f"main\ntouch {CANARY}",
    "main\x00",
    f"ext::sh -c touch% {CANARY}",
    "main~1",
    "main^",
    "main^{tree}",
    "HEAD@{1}",
    "@",
    "@{-1}",
    ":/Commit",
    "main:app.txt",
    "main..main",
    "../../etc/passwd",
    "refs/heads/../main",
    "/main",
    "main/",
    ".hidden",
    "main.lock",
    "ma*n",
    "ma[i]n",
    "ma\\in",
    " main",
    "main ",
    "a" * 256,
    "deadbeef" * 5,  # a well-formed sha the repository does not have
    "no-such-branch",
]

HOSTILE_URLS = [
    f"ext::sh -c touch% {CANARY}",
    f"ext::sh -c 'touch {CANARY}'",
    f"EXT::sh -c touch% {CANARY}",
    f"ext::touch%20{CANARY}",
    "ext::/bin/sh",
    "fd::17",
    "fd::0,1/repo",
    "transport::https://example.com/repo.git",
    "-oProxyCommand=/bin/sh",
    "--upload-pack=/bin/sh",
    f"-oProxyCommand=touch {CANARY}",
    f"--upload-pack=touch {CANARY}",
    f"-uhttps://example.com/{CANARY}",
    f"ssh://-oProxyCommand=touch%20{CANARY}/repo",
    f"ssh://example.com:-oProxyCommand=touch%20{CANARY}/repo",
    "ssh://[-oProxyCommand=x]/repo",
    f"git@-oProxyCommand=touch:{CANARY}",
    "-git@example.com:repo",
    "git@example.com:--upload-pack=touch",
    f"file://{CANARY}",
    "file:///etc",
    "git://example.com/repo.git",
    "ftp://example.com/repo.git",
    "http://example.com/repo.git",
    "http://127.0.0.1.example.com/repo.git",
    "https://user:secret@example.com/repo.git",
    "https://",
    "ssh://",
    "relative/path",
    "./repo",
    "~/repo",
    "C:\\repo",
    " https://example.com/repo.git",
    "https://example.com/repo.git\n",
    f"/tmp/repo; touch {CANARY}",
    "",
]


def _arm(value, canary: Path):
    if isinstance(value, str):
        return value.replace(CANARY, str(canary))
    if isinstance(value, dict):
        return {key: _arm(item, canary) for key, item in value.items()}
    return value


TARGETS = "/api/apps/shop/targets"
LOCK = "/api/apps/shop/targets/staging/lock"


def _target(slug: str, **fields) -> dict:
    return {"slug": slug, "name": "Evil", **fields}


HOSTILE_BODIES = [
    ("not json", DEPLOYS, "{not json"),
    ("a list", DEPLOYS, "[]"),
    ("a bare string", DEPLOYS, '"main"'),
    ("null", DEPLOYS, "null"),
    ("no ref", DEPLOYS, {"note": "no ref"}),
    ("ref null", DEPLOYS, {"ref": None}),
    ("ref a number", DEPLOYS, {"ref": 7}),
    ("ref a list", DEPLOYS, {"ref": ["main"]}),
    ("ref an object", DEPLOYS, {"ref": {"$ne": ""}}),
    ("ref too long for the schema", DEPLOYS, {"ref": "a" * 1001}),
    ("note too long", DEPLOYS, {"ref": "main", "note": "x" * 501}),
    ("push_ref an option", TARGETS, _target("evil-a", remote_url="/tmp/r", push_ref=f"--upload-pack=touch {CANARY}")),
    ("push_ref a refspec", TARGETS, _target("evil-b", remote_url="/tmp/r", push_ref="refs/heads/main:refs/heads/x")),
    ("heroku_app a command", TARGETS, _target("evil-c", heroku_app=f"x; touch {CANARY}")),
    ("both remotes", TARGETS, _target("evil-d", remote_url="/tmp/r", heroku_app="shop")),
    ("slug a path", TARGETS, _target("../evil", remote_url="/tmp/r")),
    ("timeout zero", TARGETS, _target("evil-e", remote_url="/tmp/r", timeout_seconds=0)),
    ("lock without reason", LOCK, {"reason": "  "}),
    ("lock ending in the past", LOCK, {"reason": "x", "until": "2000-01-01T00:00:00Z"}),
    ("lock until not a date", LOCK, {"reason": "x", "until": f"$(touch {CANARY})"}),
]


def _cases() -> list[tuple[str, str, str, object]]:
    """(id, role, path, body) of every hostile request."""
    cases = [(f"ref {i}: {ref[:40]!r}", "deployer", DEPLOYS, {"ref": ref}) for i, ref in enumerate(HOSTILE_REFS)]
    for i, url in enumerate(HOSTILE_URLS):
        cases.append((f"repo_url {i}: {url[:40]!r}", "staff", "/api/apps", _target(f"evil{i}", repo_url=url)))
        cases.append((f"remote_url {i}: {url[:40]!r}", "app_admin", TARGETS, _target(f"evil{i}", remote_url=url)))
    for name, path, body in HOSTILE_BODIES:
        cases.append((f"body: {name}", "app_admin" if path == TARGETS else "deployer", path, body))
    return cases


CASES = _cases()


def test_the_table_holds_at_least_thirty_hostile_inputs_of_each_kind():
    assert len(HOSTILE_REFS) >= 30
    assert len(HOSTILE_URLS) >= 30
    assert len(CASES) >= 100


def test_every_hostile_input_is_a_400_with_a_sentence_and_nothing_runs(app, api, tmp_path: Path):
    canary = tmp_path / "canary"
    answers = []
    for name, role, path, body in CASES:
        response = api(role).post(path, _arm(body, canary))
        answers.append((name, response.status_code, response.json().get("detail", "")))
    run_worker()  # anything queued by mistake would run now

    wrong = [(name, status, detail) for name, status, detail in answers if status != 400]
    assert not wrong
    for name, _, detail in answers:
        assert isinstance(detail, str) and len(detail.split()) >= 3, (name, detail)
    for ref, (_, _, detail) in zip(HOSTILE_REFS, answers, strict=False):
        if 0 < len(ref) <= 255:
            assert _arm(ref, canary) in detail, detail  # the sentence names the ref
    assert not canary.exists()
    assert not Deployment.objects.exists()
    assert list(App.objects.values_list("slug", flat=True)) == ["shop"]
    assert list(Target.objects.values_list("slug", flat=True)) == ["staging"]


@pytest.mark.parametrize("field", ["repo_url", "remote_url"])
def test_a_hostile_url_is_refused_with_a_sentence_naming_the_field(app, api, field):
    role, path = ("staff", "/api/apps") if field == "repo_url" else ("app_admin", TARGETS)
    response = api(role).post(path, {"slug": "evil", "name": "Evil", field: "ext::sh -c id"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")


def test_the_payloads_are_live_and_git_itself_is_configured_to_refuse_them(tmp_path: Path):
    """The canary is real ammunition: git with ext:: allowed runs it; our git commands do not."""
    armed, disarmed = tmp_path / "armed", tmp_path / "disarmed"
    with pytest.raises(Exception):  # noqa: B017 - the remote is no repository; the command ran anyway
        run_git("-c", "protocol.ext.allow=always", "ls-remote", f"ext::sh -c touch% {armed}")
    assert armed.exists()

    for url in (f"ext::sh -c touch% {disarmed}", "fd::17"):
        with pytest.raises(GitError):
            git.run(git.command("ls-remote", "--end-of-options", url))
    with pytest.raises(GitError):
        git.run(git.command("ls-remote", "--end-of-options", f"--upload-pack=touch {disarmed}"))
    assert not disarmed.exists()


def test_commit_messages_authors_and_branch_names_show_as_text(app, deploy, browser_client, repo):
    from projects import mirror

    repo.branch("x<script>alert('branch')</script>")
    # git itself drops < and > from author names; quotes and ampersands it keeps.
    repo.commit('<script>alert("message")</script>', {"evil.txt": "x"}, author='Tom & "Jerry" onerror=alert(1)')
    mirror.sync(app)
    client = browser_client("viewer")

    pages = [
        client.get("/apps/shop/").content.decode(),
        client.get("/apps/shop/", {"branch": "x<script>alert('branch')</script>"}).content.decode(),
    ]
    deployed = deploy().pk
    pages.append(client.get(f"/deployments/{deployed}/").content.decode())

    for page in pages:
        assert "<script>alert(" not in page
        assert '"Jerry"' not in page
    assert "&lt;script&gt;alert(&quot;message&quot;)&lt;/script&gt;" in pages[0]
    assert "Tom &amp; &quot;Jerry&quot; onerror=alert(1)" in pages[0]
    assert "x&lt;script&gt;alert(&#x27;branch&#x27;)&lt;/script&gt;" in pages[1]
    assert "&lt;script&gt;alert(&quot;message&quot;)&lt;/script&gt;" in pages[2]
