from django.contrib import admin
from django.urls import include, path

from deployments import views as deployment_views
from portal import views
from portal.api import api
from projects import views as project_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("apps/<slug:app>/", project_views.app_page, name="app"),
    path("apps/<slug:app>/targets/<slug:target>/", deployment_views.target_page, name="target"),
    path("apps/<slug:app>/targets/<slug:target>/deploy/", deployment_views.deploy, name="deploy"),
    path("apps/<slug:app>/targets/<slug:target>/lock/", deployment_views.lock, name="lock"),
    path("deployments/<int:deployment_id>/", deployment_views.deployment_page, name="deployment"),
    path("deployments/<int:deployment_id>/log.txt", deployment_views.deployment_log, name="deployment-log"),
    path("deployments/<int:deployment_id>/cancel/", deployment_views.cancel, name="cancel"),
]
