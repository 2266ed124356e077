"""URLs of continuous deployment: the GitHub webhook, Heroku fast rollback, notification log."""

from django.urls import path

from deployments import cd_views
from projects import hooks

urlpatterns = [
    path("hooks/github/<slug:app>", hooks.github, name="github-hook"),
    path("apps/<slug:app>/notifications/", cd_views.notifications, name="notifications"),
    path("deployments/<int:deployment_id>/release-rollback/", cd_views.release_rollback, name="release-rollback"),
]
