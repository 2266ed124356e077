"""Every web view and API endpoint against every role: the expected answer, no unexpected success.

Each call runs in its own savepoint, rolled back afterwards, so every role meets the same state.
A 403 must leave exactly one `denied` event; nothing else may leave one. A new URL or endpoint
fails `test_the_matrix_covers_every_url_and_endpoint` until it gets a row here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from deployments.models import Deployment
from portal.api import api as ninja_api
from portal.audit.models import AuditEvent
from portal.models import ApiToken
from projects import mirror
from projects.models import Access, Freeze, Role, Target

ROLES = ("outsider", "viewer", "deployer", "app_admin", "staff")
SHA = "a" * 40

# Expected answers per role, in ROLES order.
ANY = (200,) * 5
VIEW = (404, 200, 200, 200, 200)
AUDIT = (403, 403, 403, 200, 200)


def deploy_level(ok: int) -> tuple:
    return (404, 403, ok, ok, ok)


def protected_level(ok: int) -> tuple:
    return (404, 403, 403, ok, ok)


def admin_level(ok: int) -> tuple:
    return (404, 403, 403, ok, ok)


def staff_only(ok: int) -> tuple:
    return (403, 403, 403, 403, ok)


FREEZE = {"starts_at": "2099-01-01T00:00:00Z", "ends_at": "2099-01-02T00:00:00Z", "reason": "matrix"}

# (route as Django or django-ninja spells it, method, path, body, expected). {d} is a deployment
# of staging, {t} an API token of the deployer.
WEB = [
    ("", "get", "/", None, ANY),
    ("healthz", "get", "/healthz", None, ANY),
    ("accounts/login/", "get", "/accounts/login/", None, (302,) * 5),
    ("accounts/logout/", "post", "/accounts/logout/", {}, (302,) * 5),
    # Single sign-on: public, and not there at all without OIDC_ISSUER (tests/test_oidc.py covers it on).
    ("oidc/login/", "get", "/oidc/login/", None, (404,) * 5),
    ("oidc/callback/", "get", "/oidc/callback/?state=x&code=y", None, (404,) * 5),
    ("accounts/password_change/", "get", "/accounts/password_change/", None, ANY),
    ("accounts/password_change/done/", "get", "/accounts/password_change/done/", None, ANY),
    ("accounts/profile/", "get", "/accounts/profile/", None, ANY),
    ("accounts/profile/tokens/", "post", "/accounts/profile/tokens/", {"name": "x"}, (201,) * 5),
    ("accounts/profile/tokens/<int:token_id>/revoke/", "post", "/accounts/profile/tokens/{t}/revoke/", {},
     (404, 404, 302, 404, 302)),
    ("accounts/profile/tokens/<int:token_id>/revoke/", "get", "/accounts/profile/tokens/{t}/revoke/", None,
     (404, 404, 200, 404, 200)),  # asks first
    ("audit/", "get", "/audit/", None, AUDIT),
    ("audit/", "get", "/audit/?app=shop", None, (404, 403, 403, 200, 200)),
    ("audit/export.csv", "get", "/audit/export.csv", None, AUDIT),
    ("admin/", "get", "/admin/", None, (302, 302, 302, 302, 200)),
    ("apps/<slug:app>/", "get", "/apps/shop/", None, VIEW),
    ("apps/<slug:app>/", "get", "/apps/nothing-here/", None, (404,) * 5),
    ("apps/<slug:app>/insights/", "get", "/apps/shop/insights/", None, VIEW),
    ("apps/<slug:app>/ci-tokens/", "get", "/apps/shop/ci-tokens/", None, admin_level(200)),
    ("apps/<slug:app>/ci-tokens/<int:token_id>/revoke/", "post", "/apps/shop/ci-tokens/{t}/revoke/", {},
     (404, 403, 403, 404, 404)),
    ("apps/<slug:app>/ci-tokens/<int:token_id>/revoke/", "get", "/apps/shop/ci-tokens/{t}/revoke/", None,
     (404, 403, 403, 404, 404)),  # the deployer's own token is no CI token of shop
    ("apps/<slug:app>/notifications/", "get", "/apps/shop/notifications/", None, admin_level(200)),
    ("apps/<slug:app>/notifications/webhooks/", "post", "/apps/shop/notifications/webhooks/",
     {"name": "chat", "url": "http://127.0.0.1:9/hook", "format": "slack"}, admin_level(201)),
    ("apps/<slug:app>/notifications/webhooks/<int:webhook_id>/test/", "post",
     "/apps/shop/notifications/webhooks/999999/test/", {}, (404, 403, 403, 404, 404)),
    # The app's settings pages (tests/test_settings_pages.py): admins and staff only.
    ("apps/<slug:app>/settings/", "get", "/apps/shop/settings/", None, admin_level(200)),
    ("apps/<slug:app>/settings/", "get", "/apps/nothing-here/settings/", None, (404,) * 5),
    ("apps/<slug:app>/settings/targets/new/", "get", "/apps/shop/settings/targets/new/", None, admin_level(200)),
    ("apps/<slug:app>/settings/targets/new/", "post", "/apps/shop/settings/targets/new/",
     {"slug": "qa", "name": "QA", "heroku_app": "shop-qa", "push_ref": "refs/heads/main", "approval_minutes": "60",
      "health_timeout": "60"}, admin_level(302)),
    ("apps/<slug:app>/settings/targets/<slug:target>/", "get", "/apps/shop/settings/targets/staging/", None,
     admin_level(200)),
    ("apps/<slug:app>/settings/targets/<slug:target>/", "post", "/apps/shop/settings/targets/staging/",
     {"name": ""}, admin_level(400)),  # allowed, but a target needs a name
    ("apps/<slug:app>/settings/access/", "get", "/apps/shop/settings/access/", None, admin_level(200)),
    ("apps/<slug:app>/settings/access/", "post", "/apps/shop/settings/access/",
     {"kind": "user", "name": "outsider", "role": "viewer"}, admin_level(302)),
    ("apps/<slug:app>/settings/access/revoke/", "post", "/apps/shop/settings/access/revoke/",
     {"kind": "user", "name": "viewer"}, admin_level(302)),
    ("apps/<slug:app>/settings/github/", "get", "/apps/shop/settings/github/", None, admin_level(200)),
    ("apps/<slug:app>/settings/github/", "post", "/apps/shop/settings/github/",
     {"secret": "s3cret-value-long-enough"}, admin_level(302)),
    ("apps/<slug:app>/targets/<slug:target>/", "get", "/apps/shop/targets/staging/", None, VIEW),
    ("apps/<slug:app>/targets/<slug:target>/deploy/", "get", "/apps/shop/targets/staging/deploy/?ref=main", None,
     deploy_level(200)),
    ("apps/<slug:app>/targets/<slug:target>/deploy/", "post", "/apps/shop/targets/staging/deploy/", {"ref": "main"},
     deploy_level(302)),
    ("apps/<slug:app>/targets/<slug:target>/deploy/", "post", "/apps/shop/targets/production/deploy/",
     {"ref": "main"}, protected_level(302)),
    ("apps/<slug:app>/targets/<slug:target>/lock/", "post", "/apps/shop/targets/staging/lock/", {"reason": "x"},
     deploy_level(302)),
    ("apps/<slug:app>/targets/<slug:target>/lock/", "post", "/apps/shop/targets/production/lock/",
     {"reason": "x"}, protected_level(302)),
    ("deployments/<int:deployment_id>/", "get", "/deployments/{d}/", None, VIEW),
    ("deployments/<int:deployment_id>/log.txt", "get", "/deployments/{d}/log.txt", None, VIEW),
    ("deployments/<int:deployment_id>/tail", "get", "/deployments/{d}/tail", None, VIEW),
    ("deployments/<int:deployment_id>/cancel/", "post", "/deployments/{d}/cancel/", {}, deploy_level(302)),
    # Two-person approval of {d} (queued, so not pending: a message): its requester never approves it.
    ("deployments/<int:deployment_id>/approve/", "post", "/deployments/{d}/approve/", {}, (404, 403, 403, 302, 302)),
    ("deployments/<int:deployment_id>/reject/", "post", "/deployments/{d}/reject/", {"reason": "x"},
     deploy_level(302)),
    ("deployments/<int:deployment_id>/release-rollback/", "post", "/deployments/{d}/release-rollback/", {},
     deploy_level(302)),
    ("live/state", "get", "/live/state", None, ANY),
    # Authenticated by the app's GitHub signature, never by a session: no role gets in unsigned.
    ("hooks/github/<slug:app>", "post", "/hooks/github/shop", {}, (403,) * 5),
]  # fmt: skip

API = [
    ("/users", "post", "/api/users", {"username": "newbie", "password": "a-Long-pass-123"}, staff_only(201)),
    ("/apps", "get", "/api/apps", None, ANY),
    ("/apps", "post", "/api/apps",
     {"slug": "blog", "name": "Blog", "repo_url": "/srv/blog.git", "default_branch": "main"}, staff_only(201)),
    # A remote URL lends the worker's reach: only staff choose one outside the app's allowed_remotes.
    ("/apps/{app}/targets", "post", "/api/apps/shop/targets", {"slug": "qa", "name": "QA", "remote_url": "/srv/qa"},
     (404, 403, 403, 403, 201)),
    ("/apps/{app}/targets", "post", "/api/apps/shop/targets", {"slug": "qa", "name": "QA", "heroku_app": "shop-qa"},
     admin_level(201)),
    ("/apps/{app}", "patch", "/api/apps/shop", {"name": "Shop 2"}, (404, 403, 403, 403, 200)),
    ("/apps/{app}/targets/{target}", "patch", "/api/apps/shop/targets/staging", {"name": "Stage"}, admin_level(200)),
    ("/apps/{app}/ci-tokens", "get", "/api/apps/shop/ci-tokens", None, admin_level(200)),
    ("/apps/{app}/ci-tokens/{token_id}", "delete", "/api/apps/shop/ci-tokens/{t}", None, (404, 403, 403, 404, 404)),
    ("/apps/{app}/access/{username}", "put", "/api/apps/shop/access/outsider", {"role": "viewer"}, admin_level(200)),
    ("/apps/{app}/access/{username}", "delete", "/api/apps/shop/access/viewer", None, admin_level(204)),
    ("/teams", "post", "/api/teams", {"name": "sre"}, staff_only(201)),
    ("/teams", "get", "/api/teams", None, staff_only(200)),
    ("/apps/{app}/teams/{team}", "put", "/api/apps/shop/teams/ops", {"role": "deployer"}, admin_level(200)),
    ("/apps/{app}/teams/{team}", "delete", "/api/apps/shop/teams/ops", None, admin_level(204)),
    ("/apps/{app}/commits", "get", "/api/apps/shop/commits", None, VIEW),
    ("/apps/{app}/commits/{sha}/statuses", "post", f"/api/apps/shop/commits/{SHA}/statuses",
     {"state": "success", "context": "ci"}, admin_level(201)),
    ("/apps/{app}/ci-tokens", "post", "/api/apps/shop/ci-tokens", {"name": "ci"}, admin_level(201)),
    # The matrix's app is built from a local path, so no GitHub repository names it (its roles:
    # tests/test_github_statuses.py).
    ("/repos/{owner}/{repo}/statuses/{sha}", "post", f"/api/repos/acme/shop/statuses/{SHA}", {"state": "success"},
     (404,) * 5),
    ("/apps/{app}/github-webhook", "put", "/api/apps/shop/github-webhook", {"secret": "s3cret-value-long-enough"},
     admin_level(204)),
    ("/apps/{app}/github-token", "put", "/api/apps/shop/github-token", {"token": "ghp_matrix-token"},
     admin_level(204)),
    ("/apps/{app}/webhooks", "get", "/api/apps/shop/webhooks", None, admin_level(200)),
    ("/apps/{app}/webhooks", "post", "/api/apps/shop/webhooks",
     {"name": "chat", "url": "http://127.0.0.1:9/hook"}, admin_level(201)),
    ("/apps/{app}/targets/{target}/deployments", "post", "/api/apps/shop/targets/staging/deployments",
     {"ref": "main"}, deploy_level(202)),
    ("/apps/{app}/targets/{target}/deployments", "post", "/api/apps/shop/targets/production/deployments",
     {"ref": "main"}, protected_level(202)),
    ("/apps/{app}/targets/{target}/deployments", "get", "/api/apps/shop/targets/staging/deployments", None, VIEW),
    ("/deployments/{deployment_id}", "get", "/api/deployments/{d}", None, VIEW),
    ("/deployments/{deployment_id}/log", "get", "/api/deployments/{d}/log", None, VIEW),
    ("/deployments/{deployment_id}/cancel", "post", "/api/deployments/{d}/cancel", {}, deploy_level(202)),
    # Two-person approval: {d} is queued (409 for who may decide); its requester may not approve it (403).
    ("/deployments/{deployment_id}/approve", "post", "/api/deployments/{d}/approve", {}, (404, 403, 403, 409, 409)),
    ("/deployments/{deployment_id}/reject", "post", "/api/deployments/{d}/reject", {"reason": "x"},
     deploy_level(409)),
    ("/deployments/{deployment_id}/release-rollback", "post", "/api/deployments/{d}/release-rollback", {},
     deploy_level(400)),  # allowed, but staging is no Heroku app
    ("/apps/{app}/targets/{target}/lock", "post", "/api/apps/shop/targets/staging/lock", {"reason": "x"},
     deploy_level(201)),
    ("/apps/{app}/targets/{target}/lock", "post", "/api/apps/shop/targets/production/lock", {"reason": "x"},
     protected_level(201)),
    ("/apps/{app}/targets/{target}/lock", "delete", "/api/apps/shop/targets/staging/lock", None, deploy_level(409)),
    # Freezes ({f}: the app's, {g}: every app's; both still to come, so no deploy row meets one).
    ("/apps/{app}/freezes", "post", "/api/apps/shop/freezes", FREEZE, admin_level(201)),
    ("/apps/{app}/freezes", "get", "/api/apps/shop/freezes", None, VIEW),
    ("/apps/{app}/freezes/{freeze_id}", "delete", "/api/apps/shop/freezes/{f}", None, admin_level(204)),
    ("/apps/{app}/freezes/{freeze_id}", "delete", "/api/apps/shop/freezes/{g}", None, (404, 403, 403, 403, 204)),
    ("/freezes", "post", "/api/freezes", FREEZE, staff_only(201)),
    ("/freezes", "get", "/api/freezes", None, staff_only(200)),
    ("/freezes/{freeze_id}", "delete", "/api/freezes/{g}", None, staff_only(204)),
    ("/audit", "get", "/api/audit", None, AUDIT),
    ("/audit", "get", "/api/audit?app=shop", None, (404, 403, 403, 200, 200)),
]  # fmt: skip

PUBLIC_WEB = {
    "healthz", "accounts/login/", "accounts/logout/", "oidc/login/", "oidc/callback/", "hooks/github/<slug:app>"
}


def web_routes() -> set[str]:
    found: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route not in ("admin/", "api/"):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                found.add(route)

    walk(get_resolver().url_patterns, "")
    return found


def api_routes() -> set[tuple[str, str]]:
    return {
        (path, method.lower())
        for _, router in ninja_api._routers
        for path, operations in router.path_operations.items()
        for operation in operations.operations
        for method in operation.methods
    }


def test_the_matrix_covers_every_url_and_endpoint():
    assert web_routes() - {row[0] for row in WEB} == set(), "give these pages a row in WEB"
    assert api_routes() - {(row[0], row[1]) for row in API} == set(), "give these endpoints a row in API"


@pytest.fixture
def world(app, users, settings) -> dict:
    settings.MIRROR_MAX_AGE = 3600  # no background fetch while the matrix runs
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the webhook row saves a loopback URL
    staging = app.targets.get()
    Target.objects.create(app=app, slug="production", name="Production", remote_url=staging.remote_url, protected=True)
    mirror.sync(app)
    sha = mirror.resolve(app, "main")
    deployment = Deployment.objects.create(
        app=app, target=staging, sha=sha, ref="main", requested_by=users["deployer"], requested_by_name="deployer"
    )
    token, _ = ApiToken.issue(user=users["deployer"], name="laptop")
    soon = timezone.now() + timedelta(days=1)
    freezes = [
        Freeze.objects.create(app=where, starts_at=soon, ends_at=soon + timedelta(hours=1), reason="x", created_by="x")
        for where in (app, None)
    ]
    Access.objects.create(app=app, team=Group.objects.create(name="ops"), role=Role.VIEWER)
    sessions, tokens = {}, {}
    for role in ROLES:
        browser = Client()
        browser.force_login(users[role])
        sessions[role] = browser.cookies[django_settings.SESSION_COOKIE_NAME].value
        tokens[role] = ApiToken.issue(user=users[role], name="matrix")[1]
    return {"d": deployment.pk, "t": token.pk, "f": freezes[0].pk, "g": freezes[1].pk, "sessions": sessions,
            "tokens": tokens}  # fmt: skip


def signed_in(session_key: str) -> Client:
    """A fresh browser on an existing session: a logout in one call cannot sign out the next."""
    client = Client()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session_key
    return client


def call(client: Client, method: str, path: str, body, *, json: bool, **headers):
    if method == "get":
        return client.get(path, **headers)
    if json:
        import json as jsonlib

        return getattr(client, method)(path, jsonlib.dumps(body or {}), content_type="application/json", **headers)
    return getattr(client, method)(path, body or {}, **headers)


def run_row(world: dict, method: str, path: str, body, *, api: bool) -> dict[str, tuple[int, int]]:
    """(status, denied events) per role, each call rolled back afterwards."""
    path = path.format(**world)
    answers = {}
    for role in ROLES:
        with transaction.atomic():
            denied = AuditEvent.objects.filter(action="denied").count()
            if api:
                response = call(Client(), method, path, body, json=True,
                                HTTP_AUTHORIZATION=f"Bearer {world['tokens'][role]}")  # fmt: skip
            else:
                response = call(signed_in(world["sessions"][role]), method, path, body, json=False)
            answers[role] = (response.status_code, AuditEvent.objects.filter(action="denied").count() - denied)
            transaction.set_rollback(True)
    return answers


def check(rows, world: dict, *, api: bool) -> None:
    problems, unexpected_successes = [], 0
    for _route, method, path, body, expected in rows:
        answers = run_row(world, method, path, body, api=api)
        for role, want in zip(ROLES, expected, strict=True):
            got, denied = answers[role]
            if got != want:
                problems.append(f"{method.upper()} {path} as {role}: {got}, expected {want}")
                if got < 400 <= want:
                    unexpected_successes += 1
            if denied != (1 if got == 403 and not path.startswith("/hooks/") else 0):
                problems.append(f"{method.upper()} {path} as {role}: {denied} denied events for a {got}")
    assert unexpected_successes == 0, "\n".join(problems)
    assert problems == [], "\n".join(problems)


def test_every_web_view_answers_each_role_as_expected(world):
    check(WEB, world, api=False)


def test_every_api_endpoint_answers_each_role_as_expected(world):
    check(API, world, api=True)


def test_anonymous_visitors_are_sent_to_the_login_or_refused(world):
    for route, method, path, body, _ in WEB:
        if route in PUBLIC_WEB or route == "admin/":
            continue
        response = call(Client(), method, path.format(**world), body, json=False)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    for _, method, path, body, _ in API:
        response = call(Client(), method, path.format(**world), body, json=True)
        assert response.status_code == 401, path


def test_a_deployment_of_an_app_the_caller_cannot_see_answers_like_a_missing_one(app, api):
    target = app.targets.get()
    hidden = Deployment.objects.create(app=app, target=target, sha=SHA, ref="main", requested_by_name="deployer")
    outsider = api("outsider")

    for path in (f"/api/deployments/{hidden.pk}", f"/api/deployments/{hidden.pk}/log"):
        there, missing = outsider.get(path), outsider.get(path.replace(str(hidden.pk), str(hidden.pk + 1000)))
        assert (there.status_code, there.json()) == (404, {"detail": "No such deployment."}), path
        assert (missing.status_code, missing.json()) == (404, {"detail": "No such deployment."}), path
