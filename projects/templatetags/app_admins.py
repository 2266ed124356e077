"""`{% ask_an_admin app %}`: who a user told to ask an app's admins can ask, by name."""

from __future__ import annotations

from django import template

from projects import access
from projects.models import App

register = template.Library()


@register.inclusion_tag("projects/settings/_admins.html")
def ask_an_admin(app: App) -> dict:
    return {"app": app, "admins": access.admin_names(app)}
