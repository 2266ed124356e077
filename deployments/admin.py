"""Deployments with their logs, locks and the audit trail in the admin: to read, never to change."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from deployments.models import Deployment
from portal.adminkit import ReadOnlyAdmin
from projects.models import Lock

LOG_LINES_SHOWN = 2000


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ("id", "app", "target", "short_sha", "kind", "status", "requested_by_name", "created_at", "took")
    list_filter = ("status", "kind", "app", "created_at")
    search_fields = ("=id", "sha", "ref", "requested_by_name", "note", "app__slug", "target__slug")
    list_select_related = ("app", "target")
    date_hierarchy = "created_at"
    exclude = ("requested_by", "idempotency_key")
    readonly_fields = ("log",)

    @admin.display(description="sha")
    def short_sha(self, obj: Deployment) -> str:
        return obj.short_sha

    @admin.display(description="duration")
    def took(self, obj: Deployment) -> str:
        return f"{obj.duration:.1f} s" if obj.duration is not None else ""

    @admin.display(description="log")
    def log(self, obj: Deployment) -> str:
        lines = obj.lines.order_by("n").values_list("text", flat=True)[:LOG_LINES_SHOWN]
        body = format_html_join("\n", "{}", ((line,) for line in lines))
        link = reverse("deployment-log", args=[obj.pk])
        return format_html('<pre style="max-height:40em;overflow:auto">{}</pre><a href="{}">Whole log</a>', body, link)


@admin.register(Lock)
class LockAdmin(ReadOnlyAdmin):
    list_display = ("target", "by", "reason", "until", "created_at")
    search_fields = ("target__slug", "target__app__slug", "by", "reason")
    list_select_related = ("target__app",)
