"""The audit trail in the admin: to read, never to change."""

from django.contrib import admin

from portal.adminkit import ReadOnlyAdmin
from portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "app", "target", "deployment", "detail", "source", "ip")
    list_filter = ("action", "source", "app", "at")
    search_fields = ("actor", "detail", "app", "target", "=deployment")
    date_hierarchy = "at"
    list_per_page = 100
