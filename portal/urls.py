"""Every URL of the site, from every layer (this is wiring: it may import them all)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from deployments.delivery import github
from deployments.web import app_page, dashboard, live, webhook_pages
from deployments.web import approvals as approval_pages
from deployments.web import delivery as delivery_pages
from deployments.web import views as deployment_views
from portal import views
from portal.accounts import sso_views
from portal.accounts import views as account_views
from portal.api import api
from projects import audit_pages, ci_pages
from projects.settings_pages import github as settings_github
from projects.settings_pages import people as settings_people
from projects.settings_pages import targets as settings_targets

# An unreachable database outside a view (a middleware) is a 503 with a sentence too.
handler500 = "portal.middleware.server_error"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    # Django's own login, logout and password change; no reset by e-mail (admins reset passwords).
    path("accounts/login/", account_views.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Single sign-on with OpenID Connect (404 unless OIDC_ISSUER is set).
    path("oidc/login/", sso_views.oidc_login, name="oidc-login"),
    path("oidc/callback/", sso_views.oidc_callback, name="oidc-callback"),
    path("accounts/password_change/", account_views.password_change, name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/profile/", account_views.profile, name="profile"),
    path("accounts/profile/tokens/", account_views.token_create, name="token-create"),
    path("accounts/profile/tokens/<int:token_id>/revoke/", account_views.token_revoke, name="token-revoke"),
    path("audit/", audit_pages.audit_page, name="audit"),
    path("audit/export.csv", audit_pages.audit_csv, name="audit-csv"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    # Continuous deployment: the GitHub webhook, the notification log, Heroku fast rollback.
    path("hooks/github/<slug:app>", github.github, name="github-hook"),
    path("apps/<slug:app>/notifications/", delivery_pages.notifications, name="notifications"),
    path(
        "deployments/<int:deployment_id>/release-rollback/",
        delivery_pages.release_rollback,
        name="release-rollback",
    ),
    # An app's settings for its admins (`settings` is a reserved slug): targets, access, GitHub;
    # notifications and CI tokens keep their own pages, linked from there.
    path("apps/<slug:app>/settings/", settings_targets.overview, name="settings"),
    path("apps/<slug:app>/settings/targets/new/", settings_targets.target_new, name="settings-target-new"),
    path("apps/<slug:app>/settings/targets/<slug:target>/", settings_targets.target_edit, name="settings-target"),
    path("apps/<slug:app>/settings/access/", settings_people.access_page, name="settings-access"),
    path("apps/<slug:app>/settings/access/revoke/", settings_people.access_revoke, name="settings-access-revoke"),
    path("apps/<slug:app>/settings/github/", settings_github.github_page, name="settings-github"),
    path("apps/<slug:app>/notifications/webhooks/", webhook_pages.webhook_new, name="webhook-new"),
    path(
        "apps/<slug:app>/notifications/webhooks/<int:webhook_id>/test/",
        webhook_pages.webhook_test,
        name="webhook-test",
    ),
    path("apps/<slug:app>/ci-tokens/", ci_pages.ci_tokens, name="ci-tokens"),
    path("apps/<slug:app>/ci-tokens/<int:token_id>/revoke/", ci_pages.ci_token_revoke, name="ci-token-revoke"),
    path("apps/<slug:app>/", app_page.app_page, name="app"),
    path("apps/<slug:app>/targets/<slug:target>/", deployment_views.target_page, name="target"),
    path("apps/<slug:app>/targets/<slug:target>/deploy/", deployment_views.deploy, name="deploy"),
    path("apps/<slug:app>/targets/<slug:target>/lock/", deployment_views.lock, name="lock"),
    path("deployments/<int:deployment_id>/", deployment_views.deployment_page, name="deployment"),
    path("deployments/<int:deployment_id>/log.txt", deployment_views.deployment_log, name="deployment-log"),
    path("deployments/<int:deployment_id>/cancel/", deployment_views.cancel, name="cancel"),
    path("deployments/<int:deployment_id>/approve/", approval_pages.approve, name="approve"),
    path("deployments/<int:deployment_id>/reject/", approval_pages.reject, name="reject"),
    # What the pages poll to stay live, and the insights page (`insights` is a reserved slug).
    path("apps/<slug:app>/insights/", app_page.insights_page, name="insights"),
    path("live/state", live.state, name="live-state"),
    path("deployments/<int:deployment_id>/tail", live.deployment_tail, name="deployment-tail"),
]
