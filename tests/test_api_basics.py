"""Tokens, the schema, users, apps, targets and access through the JSON API."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.models import ApiToken, hash_token
from projects.models import Access, App, Target
from tests.helpers import Api


def test_apitoken_prints_a_working_token_and_stores_only_its_hash(users):
    out = StringIO()
    call_command("apitoken", "viewer", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]

    stored = ApiToken.objects.get(user=users["viewer"])
    assert stored.token_hash == hash_token(token)
    assert token not in stored.token_hash
    assert Api(token).get("/api/apps").status_code == 200


def test_apitoken_refuses_an_unknown_user_with_a_message(db):
    with pytest.raises(CommandError, match="No active user named 'ghost'"):
        call_command("apitoken", "ghost")


def test_requests_without_a_valid_token_are_401_with_a_sentence(db):
    for client in (Api(), Api("bt_not-a-real-token")):
        response = client.get("/api/apps")
        assert response.status_code == 401
        assert "token" in response.json()["detail"]


def test_the_openapi_schema_documents_the_contract_paths(db):
    schema = Api().get("/api/openapi.json").json()
    for path in (
        "/api/users",
        "/api/apps",
        "/api/apps/{app}/targets",
        "/api/apps/{app}/access/{username}",
        "/api/apps/{app}/commits",
        "/api/apps/{app}/targets/{target}/deployments",
        "/api/deployments/{deployment_id}",
        "/api/deployments/{deployment_id}/log",
        "/api/deployments/{deployment_id}/cancel",
        "/api/apps/{app}/targets/{target}/lock",
        "/api/audit",
    ):
        assert path in schema["paths"], path


def test_staff_create_users_and_a_duplicate_is_a_conflict(api):
    created = api("staff").post("/api/users", {"username": "newbie", "password": "a-Long-passw0rd!"})
    assert created.status_code == 201
    assert created.json() == {"username": "newbie"}
    assert api("staff").post("/api/users", {"username": "newbie", "password": "a-Long-passw0rd!"}).status_code == 409
    assert api("app_admin").post("/api/users", {"username": "x", "password": "a-Long-passw0rd!"}).status_code == 403
    weak = api("staff").post("/api/users", {"username": "weak", "password": "123"})
    assert weak.status_code == 400
    assert weak.json()["detail"].startswith("password:")


def test_staff_create_apps_and_bad_urls_or_slugs_are_refused(api, repo):
    created = api("staff").post("/api/apps", {"slug": "blog", "name": "Blog", "repo_url": str(repo.path)})
    assert created.status_code == 201
    assert created.json()["default_branch"] == "main"
    assert api("staff").post("/api/apps", {"slug": "blog", "name": "B", "repo_url": str(repo.path)}).status_code == 409
    for body in (
        {"slug": "x1", "name": "X", "repo_url": "ext::sh -c touch% /tmp/pwned"},
        {"slug": "x2", "name": "X", "repo_url": "http://example.com/repo.git"},
        {"slug": "settings", "name": "X", "repo_url": str(repo.path)},
        {"slug": "bad slug", "name": "X", "repo_url": str(repo.path)},
    ):
        response = api("staff").post("/api/apps", body)
        assert response.status_code == 400, body
        assert response.json()["detail"].split(":")[0] in {"repo_url", "slug"}
    assert list(App.objects.values_list("slug", flat=True)) == ["blog"]


def test_app_admins_add_targets_with_exactly_one_remote(app, api, tmp_path):
    admin = api("app_admin")
    ok = admin.post(
        "/api/apps/shop/targets", {"slug": "prod", "name": "Prod", "heroku_app": "shop-prod", "api_key": "k"}
    )
    assert ok.status_code == 201
    assert "api_key" not in ok.json()
    both = admin.post(
        "/api/apps/shop/targets", {"slug": "x", "name": "X", "heroku_app": "a-b", "remote_url": str(tmp_path)}
    )
    assert both.status_code == 400
    assert admin.post("/api/apps/shop/targets", {"slug": "y", "name": "Y"}).status_code == 400
    assert admin.post("/api/apps/shop/targets", {"slug": "prod", "name": "P", "heroku_app": "zz-z"}).status_code == 409
    assert (
        api("deployer").post("/api/apps/shop/targets", {"slug": "z", "name": "Z", "heroku_app": "q-q"}).status_code
        == 403
    )
    target = Target.objects.get(slug="prod")
    assert target.api_key == "k"
    assert target.api_key_encrypted != "k"
    assert target.push_url == "https://git.heroku.com/shop-prod.git"


def test_app_admins_grant_change_and_revoke_access(app, api, users):
    admin = api("app_admin")
    granted = admin.put("/api/apps/shop/access/outsider", {"role": "deployer", "deploy_protected": True})
    assert granted.status_code == 200
    assert granted.json() == {"username": "outsider", "role": "deployer", "deploy_protected": True}
    assert api("outsider").get("/api/apps").json()[0]["slug"] == "shop"
    assert admin.put("/api/apps/shop/access/outsider", {"role": "owner"}).status_code == 400
    assert admin.put("/api/apps/shop/access/nobody", {"role": "viewer"}).status_code == 404
    assert admin.delete("/api/apps/shop/access/outsider").status_code == 204
    assert not Access.objects.filter(user=users["outsider"]).exists()
    assert api("outsider").get("/api/apps").json() == []


def test_apps_list_shows_targets_with_lock_state(app, api):
    api("deployer").post("/api/apps/shop/targets/staging/lock", {"reason": "release freeze"})
    listed = api("viewer").get("/api/apps").json()
    target = listed[0]["targets"][0]
    assert target["locked"] is True
    assert target["lock"]["reason"] == "release freeze"
    assert target["lock"]["by"] == "deployer"
